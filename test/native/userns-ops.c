/*
 * userns-ops: runs file operations as a chosen process inside a chosen user
 * namespace, optionally through an idmapped mount, and prints what the real
 * kernel answered, for the differential tests of src/userns and src/vfs.
 * Run as root. Cases arrive on stdin, one directive per line:
 *
 *   case ROOT UIDMAP GIDMAP MUIDMAP MGIDMAP UID GID GROUPS FSUID FSGID CAPS ROOTFIRST
 *   op stat PATH | op open PATH r|w|rw|x | op creat PATH MODE | op mkdir PATH MODE
 *   op chown PATH UID GID | op chmod PATH MODE | op utimes PATH now|set
 *   op unlink PATH | op rmdir PATH | op access PATH r|w|x|wx (faccessat, AT_EACCESS)
 *   op setxattr PATH (user.fsidmap) | op setacl PATH UID (access ACL u::rw- u:UID:r-- g::r-- m::r-- o::r--)
 *   end
 *
 * UIDMAP/GIDMAP: the process's user namespace maps as an inline spec
 * (0:100000:65536,...) written by root from the initial namespace, or "-"
 * to stay in the initial namespace. MUIDMAP/MGIDMAP: "-" to work on ROOT
 * directly, or the maps of a holder namespace whose idmapping a detached
 * idmapped mount of ROOT gets (open_tree + mount_setattr). UID/GID/GROUPS
 * (comma list or "-") are ids inside the namespace, set in the model's
 * order: setgroups, [PR_SET_KEEPCAPS], setresgid, setresuid, setfsgid,
 * setfsuid, [capset]. FSUID/FSGID -1 leave the fs ids alone. CAPS is
 * "default" (what set*id leaves) or a hex mask for the effective set.
 * ROOTFIRST 1 first becomes root of the namespace (setresgid/setresuid 0),
 * as runtimes do, so that the later drop also drops capabilities.
 * Modes are octal. PATHs are relative to ROOT (or the mount); "." is the
 * root itself as a container's "/" is reached, with no lookup (stat and
 * chown with AT_EMPTY_PATH, open through /proc/self/fd). Per op it
 * prints one line: "ok" (stat: "ok UID GID MODE") or the errno name.
 * After "end" it prints "done".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAXOPS 512
#define LINE 1024

static void die(const char *what) {
  fprintf(stderr, "userns-ops: %s: %s\n", what, strerror(errno));
  exit(99);
}

static const char *errname(int e) {
  switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case EOVERFLOW: return "EOVERFLOW";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EBUSY: return "EBUSY";
    case ELOOP: return "ELOOP";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EROFS: return "EROFS";
    default: { static char b[32]; snprintf(b, sizeof b, "E%d", e); return b; }
  }
}

/* "0:100000:65536,5:7:1" -> "0 100000 65536\n5 7 1\n" */
static void spec_to_lines(const char *spec, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = spec; *p && n + 2 < cap; p++) {
    if (*p == ':') out[n++] = ' ';
    else if (*p == ',') out[n++] = '\n';
    else out[n++] = *p;
  }
  out[n++] = '\n';
  out[n] = 0;
}

static void write_proc(pid_t pid, const char *file, const char *spec) {
  char path[64], text[4096];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  spec_to_lines(spec, text, sizeof text);
  int fd = open(path, O_WRONLY);
  if (fd < 0) die(path);
  if (write(fd, text, strlen(text)) < 0) die(path);
  close(fd);
}

/* A child that unshares a user namespace and waits; returns its pid once it has. */
static pid_t holder(int *release_fd) {
  int ready[2], go[2];
  if (pipe(ready) || pipe(go)) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    close(ready[0]); close(go[1]);
    if (unshare(CLONE_NEWUSER)) die("unshare");
    char c = 'r';
    if (write(ready[1], &c, 1) != 1) _exit(98);
    if (read(go[0], &c, 1) < 0) _exit(98);
    _exit(0);
  }
  close(ready[1]); close(go[0]);
  char c;
  if (read(ready[0], &c, 1) != 1) die("holder ready");
  close(ready[0]);
  *release_fd = go[1];
  return pid;
}

static void release(pid_t pid, int fd) {
  char c = 'g';
  if (write(fd, &c, 1) != 1) die("release");
  close(fd);
  int st;
  waitpid(pid, &st, 0);
}

/* open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP) with a holder namespace's maps. */
static int idmapped_mount(const char *root, const char *muid, const char *mgid) {
  int rel;
  pid_t h = holder(&rel);
  write_proc(h, "uid_map", muid);
  write_proc(h, "gid_map", mgid);
  char nspath[64];
  snprintf(nspath, sizeof nspath, "/proc/%d/ns/user", (int)h);
  int nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die("open ns");
  int fd = (int)syscall(SYS_open_tree, AT_FDCWD, root, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (fd < 0) die("open_tree");
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)nsfd;
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof attr)) die("mount_setattr");
  close(nsfd);
  release(h, rel);
  return fd;
}

static int parse_ids(const char *csv, gid_t *out, int max) {
  if (strcmp(csv, "-") == 0) return 0;
  int n = 0;
  char tmp[LINE];
  snprintf(tmp, sizeof tmp, "%s", csv);
  for (char *s = strtok(tmp, ","); s && n < max; s = strtok(NULL, ",")) out[n++] = (gid_t)strtoul(s, NULL, 10);
  return n;
}

static int capset_effective(uint64_t eff) {
  struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data)) return errno;
  data[0].effective = (uint32_t)eff;
  data[1].effective = (uint32_t)(eff >> 32);
  if (syscall(SYS_capset, &hdr, data)) return errno;
  return 0;
}

/* The process under test: set ids and caps as the model does, then run the ops. */
static void run_ops(int dirfd, char ops[][LINE], int nops, uid_t uid, gid_t gid, const char *groups,
                    long fsuid, long fsgid, const char *caps, int root_first) {
  gid_t gl[256];
  if (root_first && (setresgid(0, 0, 0) || setresuid(0, 0, 0))) die("become root first");
  int ng = parse_ids(groups, gl, 256);
  if (setgroups((size_t)ng, gl)) die("setgroups");
  int explicit_caps = strcmp(caps, "default") != 0;
  if (explicit_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) die("keepcaps");
  if (setresgid(gid, gid, gid)) die("setresgid");
  if (setresuid(uid, uid, uid)) die("setresuid");
  if (fsgid >= 0) setfsgid((gid_t)fsgid);
  if (fsuid >= 0) setfsuid((uid_t)fsuid);
  if (explicit_caps) {
    int e = capset_effective(strtoull(caps, NULL, 16));
    if (e) { errno = e; die("capset"); }
  }
  umask(022);
  for (int i = 0; i < nops; i++) {
    char op[32], path[512], a[64] = "", b[64] = "";
    int n = sscanf(ops[i], "op %31s %511s %63s %63s", op, path, a, b);
    if (n < 2) { printf("EBADOP\n"); continue; }
    int r = 0;
    int self = strcmp(path, ".") == 0;
    const char *rel = self ? "" : path;
    int at = AT_SYMLINK_NOFOLLOW | (self ? AT_EMPTY_PATH : 0);
    char reopen[64];
    snprintf(reopen, sizeof reopen, "/proc/self/fd/%d", dirfd);
    if (strcmp(op, "stat") == 0) {
      struct stat st;
      if (fstatat(dirfd, rel, &st, at)) { printf("%s\n", errname(errno)); continue; }
      printf("ok %u %u %o\n", st.st_uid, st.st_gid, st.st_mode & 07777);
      continue;
    } else if (strcmp(op, "open") == 0) {
      if (strcmp(a, "x") == 0) {
        r = faccessat(dirfd, path, X_OK, AT_EACCESS);
      } else {
        int fl = strcmp(a, "r") == 0 ? O_RDONLY : strcmp(a, "w") == 0 ? O_WRONLY : O_RDWR;
        int fd = self ? open(reopen, fl | O_CLOEXEC) : openat(dirfd, path, fl | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) close(fd);
        r = fd < 0 ? -1 : 0;
      }
    } else if (strcmp(op, "access") == 0) {
      int m = (strchr(a, 'r') ? R_OK : 0) | (strchr(a, 'w') ? W_OK : 0) | (strchr(a, 'x') ? X_OK : 0);
      r = faccessat(dirfd, path, m, AT_EACCESS);
    } else if (strcmp(op, "creat") == 0) {
      int fd = openat(dirfd, path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, (mode_t)strtoul(a, NULL, 8));
      if (fd >= 0) close(fd);
      r = fd < 0 ? -1 : 0;
    } else if (strcmp(op, "mkdir") == 0) {
      r = mkdirat(dirfd, path, (mode_t)strtoul(a, NULL, 8));
    } else if (strcmp(op, "chown") == 0) {
      r = fchownat(dirfd, rel, (uid_t)strtol(a, NULL, 10), (gid_t)strtol(b, NULL, 10), at);
    } else if (strcmp(op, "chmod") == 0) {
      r = fchmodat(dirfd, path, (mode_t)strtoul(a, NULL, 8), 0);
    } else if (strcmp(op, "utimes") == 0) {
      struct timespec ts[2] = { { 1000000, 0 }, { 1000000, 0 } };
      r = utimensat(dirfd, path, strcmp(a, "now") == 0 ? NULL : ts, AT_SYMLINK_NOFOLLOW);
    } else if (strcmp(op, "unlink") == 0) {
      r = unlinkat(dirfd, path, 0);
    } else if (strcmp(op, "rmdir") == 0) {
      r = unlinkat(dirfd, path, AT_REMOVEDIR);
    } else if (strcmp(op, "setxattr") == 0 || strcmp(op, "setacl") == 0) {
      /* Through an O_PATH descriptor's /proc link: the mount (and its idmap) stays the one walked. */
      int fd = self ? -1 : openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (!self && fd < 0) { printf("%s\n", errname(errno)); continue; }
      char via[64];
      snprintf(via, sizeof via, "/proc/self/fd/%d", self ? dirfd : fd);
      if (op[3] == 'x') {
        r = setxattr(via, "user.fsidmap", "x", 1, 0);
      } else {
        uint32_t acl[11] = { 2 };
        uint32_t id = (uint32_t)strtoul(a, NULL, 10);
        uint16_t tags[5][2] = { { 0x01, 6 }, { 0x02, 4 }, { 0x04, 4 }, { 0x10, 4 }, { 0x20, 4 } };
        uint32_t ids[5] = { 0xffffffffu, id, 0xffffffffu, 0xffffffffu, 0xffffffffu };
        for (int k = 0; k < 5; k++) { acl[1 + 2 * k] = (uint32_t)tags[k][0] | ((uint32_t)tags[k][1] << 16); acl[2 + 2 * k] = ids[k]; }
        r = setxattr(via, "system.posix_acl_access", acl, sizeof acl, 0);
      }
      int e = errno;
      if (fd >= 0) close(fd);
      errno = e;
    } else {
      printf("EBADOP\n");
      continue;
    }
    printf("%s\n", r == 0 ? "ok" : errname(errno));
  }
  fflush(stdout);
}

int main(void) {
  static char line[LINE], ops[MAXOPS][LINE];
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  while (fgets(line, sizeof line, stdin)) {
    char root[512], um[LINE], gm[LINE], mum[LINE], mgm[LINE], groups[LINE], caps[32];
    unsigned long uid, gid;
    long fsuid, fsgid;
    int root_first;
    if (sscanf(line, "case %511s %1023s %1023s %1023s %1023s %lu %lu %1023s %ld %ld %31s %d",
               root, um, gm, mum, mgm, &uid, &gid, groups, &fsuid, &fsgid, caps, &root_first) != 12) {
      fprintf(stderr, "userns-ops: bad case line: %s", line);
      return 2;
    }
    int nops = 0;
    while (fgets(line, sizeof line, stdin) && strncmp(line, "end", 3) != 0) {
      if (nops >= MAXOPS) { fprintf(stderr, "userns-ops: too many ops\n"); return 2; }
      line[strcspn(line, "\n")] = 0;
      snprintf(ops[nops++], LINE, "%s", line);
    }
    int dirfd = strcmp(mum, "-") == 0 ? open(root, O_PATH | O_DIRECTORY | O_CLOEXEC) : idmapped_mount(root, mum, mgm);
    if (dirfd < 0) die("open root");
    fflush(stdout);
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) die("pipe");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      close(ready[0]); close(go[1]);
      char c = 'r';
      if (strcmp(um, "-") != 0 && unshare(CLONE_NEWUSER)) die("unshare");
      if (write(ready[1], &c, 1) != 1) _exit(98);
      if (read(go[0], &c, 1) != 1) _exit(98);
      run_ops(dirfd, ops, nops, (uid_t)uid, (gid_t)gid, groups, fsuid, fsgid, caps, root_first);
      _exit(0);
    }
    close(ready[1]); close(go[0]);
    char c;
    if (read(ready[0], &c, 1) != 1) die("child ready");
    if (strcmp(um, "-") != 0) {
      write_proc(pid, "uid_map", um);
      write_proc(pid, "gid_map", gm);
    }
    if (write(go[1], &c, 1) != 1) die("go");
    close(ready[0]); close(go[1]);
    int st;
    waitpid(pid, &st, 0);
    close(dirfd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "userns-ops: case process failed (status %d)\n", st);
      return 3;
    }
    printf("done\n");
    fflush(stdout);
  }
  return 0;
}
