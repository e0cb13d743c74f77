/*
 * userns-probe: asks the real kernel what it does with a map write, for the
 * differential tests of src/idmap. Run as root. Cases arrive on stdin:
 *
 *   case KIND WRITER EUID EGID SETGROUPS PARENTLEN MAPLEN NUP NDOWN\n
 *   <PARENTLEN bytes of parent map><MAPLEN bytes of the map to write>
 *   <NUP kernel ids, space separated>\n<NDOWN namespace ids>\n
 *
 * KIND is uid or gid; WRITER is priv (root, or root of the parent namespace
 * when PARENTLEN > 0), nofcap (root without CAP_SETFCAP) or unpriv (EUID/EGID without capabilities, writing
 * from the initial namespace into a namespace it owns; SETGROUPS is allow or
 * deny for /proc/PID/setgroups, or - to leave it). For each case it prints
 *
 *   verdict OK|<errno name>\n
 *   map <first lower count>,... (the installed map read from the initial ns)\n
 *   up <st_uid or st_gid seen inside, per kernel id>\n
 *   down <kernel id or ->\n
 *
 * "up" stats files the probe chowned to each kernel id, from inside the
 * namespace (from_kuid_munged); "down" sets the fsuid/fsgid to each id inside
 * and creates a file whose owner the probe stats from outside (make_kuid).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXIDS 256

static const char *workdir;

static void die(const char *what) {
  fprintf(stderr, "userns-probe: %s: %s\n", what, strerror(errno));
  exit(99);
}

static void xwrite(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; die("write"); }
    p += w; n -= (size_t)w;
  }
}

static void xread(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0) { if (errno == EINTR) continue; die("read"); }
    if (r == 0) { fprintf(stderr, "userns-probe: unexpected EOF\n"); exit(99); }
    p += r; n -= (size_t)r;
  }
}

static int write_file(pid_t pid, const char *name, const char *buf, size_t len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
  int fd = open(path, O_WRONLY);
  if (fd < 0) return errno;
  ssize_t w = write(fd, buf, len);
  int err = w < 0 ? errno : 0;
  close(fd);
  return err;
}

/* The map as the kernel prints it, lines joined with '|' (no parsing: the format is under test too). */
static void read_map(pid_t pid, const char *name, char *out, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
  out[0] = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return;
  size_t used = 0;
  ssize_t r;
  while (used + 1 < cap && (r = read(fd, out + used, cap - 1 - used)) > 0) used += (size_t)r;
  close(fd);
  out[used] = 0;
  if (used > 0 && out[used - 1] == '\n') out[--used] = 0;
  for (size_t i = 0; i < used; i++) if (out[i] == '\n') out[i] = '|';
}

/* The target process: waits for "go", then reports translations as seen from inside. */
static void target_main(int in, int out, int is_gid, int nup, int ndown, const uint32_t *down, uint32_t base) {
  char go;
  xread(in, &go, 1);
  if (go == 'x') _exit(0);
  char path[256];
  /* A mapped id to reset the fsuid to before each probe, read from the map the kernel installed. */
  FILE *mf = fopen(is_gid ? "/proc/self/gid_map" : "/proc/self/uid_map", "r");
  unsigned long first = 0;
  if (mf) { if (fscanf(mf, "%lu", &first) != 1) first = 0; fclose(mf); }
  base = (uint32_t)first;
  for (int i = 0; i < nup; i++) {
    struct stat st;
    snprintf(path, sizeof path, "%s/up-%d", workdir, i);
    uint32_t v = 0xffffffffu;
    if (stat(path, &st) == 0) v = is_gid ? st.st_gid : st.st_uid;
    xwrite(out, &v, sizeof v);
  }
  for (int i = 0; i < ndown; i++) {
    uint32_t id = down[i];
    char ok = 0;
    if (is_gid) { setfsgid(base); setfsgid(id); ok = (uint32_t)setfsgid(id) == id; }
    else { setfsuid(base); setfsuid(id); ok = (uint32_t)setfsuid(id) == id; }
    if (ok) {
      snprintf(path, sizeof path, "%s/down-%d", workdir, i);
      int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
      if (fd < 0) ok = 0; else close(fd);
    }
    xwrite(out, &ok, 1);
  }
  _exit(0);
}

struct pipes { int to[2], from[2]; };

static void mkpipes(struct pipes *p) {
  if (pipe(p->to) || pipe(p->from)) die("pipe");
}

/*
 * The id to become inside the parent namespace. If the parent maps its uid 0
 * we stay root there (0), so the switch never drops capabilities; otherwise
 * any mapped id keeps them (the old ids were not root there either).
 */
static uint32_t parent_switch_id(const char *text, size_t len) {
  char tmp[8192];
  memcpy(tmp, text, len); tmp[len] = 0;
  uint32_t first_seen = 0; int have = 0;
  for (char *line = strtok(tmp, "\n"); line; line = strtok(NULL, "\n")) {
    unsigned long a, b, c;
    if (sscanf(line, "%lu %lu %lu", &a, &b, &c) != 3) continue;
    if (a == 0) return 0;
    if (!have) { first_seen = (uint32_t)a; have = 1; }
  }
  return first_seen;
}

static const char *errname(int e) {
  switch (e) {
    case 0: return "OK";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    default: { static char b[32]; snprintf(b, sizeof b, "E%d", e); return b; }
  }
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: userns-probe WORKDIR < cases\n"); return 2; }
  workdir = argv[1];
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  char kind[8], writer[8], sgmode[8];
  unsigned long euid, egid, plen, mlen, nup, ndown;
  static char parent[8192], map[8192], readback[65536];
  static uint32_t up[MAXIDS], down[MAXIDS];
  for (;;) {
    if (scanf(" case %7s %7s %lu %lu %7s %lu %lu %lu %lu", kind, writer, &euid, &egid, sgmode, &plen, &mlen, &nup, &ndown) != 9) break;
    if (getchar() != '\n') { fprintf(stderr, "userns-probe: bad header\n"); return 2; }
    if (plen >= sizeof parent || mlen >= sizeof map || nup > MAXIDS || ndown > MAXIDS) { fprintf(stderr, "userns-probe: case too large\n"); return 2; }
    if (fread(parent, 1, plen, stdin) != plen || fread(map, 1, mlen, stdin) != mlen) { fprintf(stderr, "userns-probe: short case\n"); return 2; }
    for (unsigned long i = 0; i < nup; i++) if (scanf("%u", &up[i]) != 1) return 2;
    for (unsigned long i = 0; i < ndown; i++) if (scanf("%u", &down[i]) != 1) return 2;
    int is_gid = strcmp(kind, "gid") == 0;
    const char *mapfile = is_gid ? "gid_map" : "uid_map";

    /* Fresh work dir contents: files owned by the "up" kernel ids. */
    char path[256];
    for (unsigned long i = 0; i < nup; i++) {
      snprintf(path, sizeof path, "%s/up-%lu", workdir, i);
      unlink(path);
      int fd = open(path, O_CREAT | O_WRONLY, 0644);
      if (fd < 0) die("create up file");
      close(fd);
      if (chown(path, up[i], up[i])) die("chown up file");
    }
    for (unsigned long i = 0; i < ndown; i++) { snprintf(path, sizeof path, "%s/down-%lu", workdir, i); unlink(path); }

    uint32_t base = 0;

    /* ctl: the writer side reports the errno of the map write; the target reports translations. */
    struct pipes t; mkpipes(&t);      /* probe/writer <-> target */
    struct pipes w; mkpipes(&w);      /* probe <-> intermediate writer (nested or unpriv) */
    int err = 0;
    pid_t target = -1, mid = -1;

    if (plen == 0 && strcmp(writer, "priv") == 0) {
      target = fork();
      if (target < 0) die("fork");
      if (target == 0) {
        if (unshare(CLONE_NEWUSER)) die("unshare");
        char r = 'r'; xwrite(t.from[1], &r, 1);
        target_main(t.to[0], t.from[1], is_gid, (int)nup, (int)ndown, down, base);
      }
      char r; xread(t.from[0], &r, 1);
      err = write_file(target, mapfile, map, mlen);
    } else {
      /* An intermediate process writes the map: either root of a parent namespace, or an unprivileged owner. */
      mid = fork();
      if (mid < 0) die("fork");
      if (mid == 0) {
        if (plen > 0) {
          if (unshare(CLONE_NEWUSER)) die("unshare parent");
          char r = 'r'; xwrite(w.from[1], &r, 1);
          xread(w.to[0], &r, 1); /* parent maps written */
          uint32_t pid0 = parent_switch_id(parent, plen);
          /* Become an id mapped in the parent namespace, so it can own a child namespace. */
          if (setresgid(pid0, pid0, pid0) || setresuid(pid0, pid0, pid0)) die("switch ids in parent ns");
          prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        } else if (strcmp(writer, "nofcap") == 0) {
          /* Stay root but without CAP_SETFCAP: the writer verify_root_map refuses for lower id 0. */
          struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
          struct __user_cap_data_struct d[2];
          if (syscall(SYS_capget, &h, d)) die("capget");
          d[CAP_SETFCAP / 32].effective &= ~(1u << (CAP_SETFCAP % 32));
          d[CAP_SETFCAP / 32].permitted &= ~(1u << (CAP_SETFCAP % 32));
          if (syscall(SYS_capset, &h, d)) die("capset");
        } else {
          if (setgroups(0, NULL) || setresgid(egid, egid, egid) || setresuid(euid, euid, euid)) die("drop to unprivileged ids");
          /* Changing ids clears dumpable, which would make /proc/PID root-owned and unwritable to us. */
          prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        }
        pid_t tg = fork();
        if (tg < 0) die("fork target");
        if (tg == 0) {
          if (unshare(CLONE_NEWUSER)) die("unshare target");
          char r = 'r'; xwrite(t.from[1], &r, 1);
          target_main(t.to[0], t.from[1], is_gid, (int)nup, (int)ndown, down, base);
        }
        char r; xread(t.from[0], &r, 1);
        int e = 0;
        if (strcmp(sgmode, "-") != 0) e = write_file(tg, "setgroups", sgmode, strlen(sgmode));
        if (e == 0) e = write_file(tg, mapfile, map, mlen);
        int32_t msg[2] = { (int32_t)tg, e };
        xwrite(w.from[1], msg, sizeof msg);
        xread(w.to[0], &r, 1); /* probe is done reading maps */
        xwrite(t.to[1], &r, 1);
        int st; waitpid(tg, &st, 0);
        _exit(0);
      }
      char r;
      if (plen > 0) {
        xread(w.from[0], &r, 1);
        int e1 = write_file(mid, "uid_map", parent, plen);
        int e2 = write_file(mid, "gid_map", parent, plen);
        if (e1 || e2) { fprintf(stderr, "userns-probe: parent map refused: %s %s\n", errname(e1), errname(e2)); return 3; }
        r = 'g'; xwrite(w.to[1], &r, 1);
      }
      int32_t msg[2];
      xread(w.from[0], msg, sizeof msg);
      target = msg[0];
      err = msg[1];
    }

    printf("verdict %s\n", errname(err));
    read_map(target, mapfile, readback, sizeof readback);
    printf("map %s\n", err ? "" : readback);

    /* Let the target report what it sees (or just exit). */
    char go = err ? 'x' : 'g';
    if (mid > 0) { xwrite(w.to[1], &go, 1); } else { xwrite(t.to[1], &go, 1); }
    printf("up");
    if (!err) {
      for (unsigned long i = 0; i < nup; i++) { uint32_t v; xread(t.from[0], &v, sizeof v); printf(" %u", v); }
    }
    printf("\ndown");
    if (!err) {
      for (unsigned long i = 0; i < ndown; i++) {
        char ok; xread(t.from[0], &ok, 1);
        struct stat st;
        snprintf(path, sizeof path, "%s/down-%lu", workdir, i);
        if (ok && stat(path, &st) == 0) printf(" %u", is_gid ? st.st_gid : st.st_uid);
        else printf(" -");
      }
    }
    printf("\n");
    fflush(stdout);
    int st;
    if (mid > 0) waitpid(mid, &st, 0);
    else waitpid(target, &st, 0);
    close(t.to[0]); close(t.to[1]); close(t.from[0]); close(t.from[1]);
    close(w.to[0]); close(w.to[1]); close(w.from[0]); close(w.from[1]);
  }
  return 0;
}
