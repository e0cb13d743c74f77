/*
 * vfs-ops: performs filesystem operations as given credentials and reports
 * what the kernel answered, for the differential tests that hold the
 * model's predictions (fsidmap simulate) against the real kernel. It runs
 * inside a container made by `fsidmap run`. One operation per stdin line,
 * one answer per stdout line:
 *
 *   as UID GID [GROUP...]        credentials of the next operations ("ok")
 *   stat PATH                    "ok UID GID MODE TYPE" (mode in octal, type file|dir|symlink|other) or the errno name
 *   open PATH read|write|rdwr    "ok" or errno
 *   create PATH MODE             O_CREAT|O_EXCL, mode in octal
 *   mkdir PATH MODE
 *   chown PATH UID GID           -1 keeps a field
 *   chmod PATH MODE
 *   unlink PATH | rmdir PATH
 *   utimes PATH now|explicit
 *   kill PID                     signal 0
 *   ids                          "ok RUID EUID SUID FSUID RGID EGID SGID FSGID [GROUP...]"
 *   spawn                        a process with these credentials that sleeps until the
 *                                container ends: "ok PID" (its pid in this pid namespace)
 *
 * Each operation runs in a child that takes the credentials with
 * setgroups/setresgid/setresuid (so root keeps its capabilities and any
 * other uid has none, as after a login), then reports.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e) {
  switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case EACCES: return "EACCES"; case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL"; case EOVERFLOW: return "EOVERFLOW"; case EROFS: return "EROFS"; case ESRCH: return "ESRCH";
    case ENOTDIR: return "ENOTDIR"; case EISDIR: return "EISDIR"; case ENOTEMPTY: return "ENOTEMPTY"; case EBUSY: return "EBUSY";
    default: { static char b[16]; snprintf(b, sizeof b, "E%d", e); return b; }
  }
}

static uid_t as_uid; static gid_t as_gid; static gid_t as_groups[64]; static int as_ngroups;
static int have_as;

/* Runs in the child: the operation itself. Writes the answer to out. */
static void perform(char **f, int n, char *out, size_t cap) {
#define ERR() snprintf(out, cap, "%s", errname(errno))
  const char *op = f[0];
  if (strcmp(op, "stat") == 0 && n == 2) {
    struct stat st;
    if (lstat(f[1], &st) < 0) { ERR(); return; }
    const char *type = S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : S_ISLNK(st.st_mode) ? "symlink" : "other";
    snprintf(out, cap, "ok %u %u %o %s", st.st_uid, st.st_gid, (unsigned)(st.st_mode & 07777), type);
  } else if (strcmp(op, "open") == 0 && n == 3) {
    int flags = strcmp(f[2], "write") == 0 ? O_WRONLY : strcmp(f[2], "rdwr") == 0 ? O_RDWR : O_RDONLY;
    int fd = open(f[1], flags | O_NOFOLLOW);
    if (fd < 0) { ERR(); return; }
    close(fd);
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "create") == 0 && n == 3) {
    int fd = open(f[1], O_CREAT | O_EXCL | O_WRONLY, (mode_t)strtoul(f[2], NULL, 8));
    if (fd < 0) { ERR(); return; }
    close(fd);
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "mkdir") == 0 && n == 3) {
    if (mkdir(f[1], (mode_t)strtoul(f[2], NULL, 8)) < 0) { ERR(); return; }
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "chown") == 0 && n == 4) {
    if (lchown(f[1], (uid_t)strtol(f[2], NULL, 10), (gid_t)strtol(f[3], NULL, 10)) < 0) { ERR(); return; }
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "chmod") == 0 && n == 3) {
    if (chmod(f[1], (mode_t)strtoul(f[2], NULL, 8)) < 0) { ERR(); return; }
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "unlink") == 0 && n == 2) {
    if (unlink(f[1]) < 0) { ERR(); return; }
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "rmdir") == 0 && n == 2) {
    if (rmdir(f[1]) < 0) { ERR(); return; }
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "utimes") == 0 && n == 3) {
    struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
    if (utimensat(AT_FDCWD, f[1], strcmp(f[2], "now") == 0 ? NULL : ts, AT_SYMLINK_NOFOLLOW) < 0) { ERR(); return; }
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "kill") == 0 && n == 2) {
    if (kill((pid_t)strtol(f[1], NULL, 10), 0) < 0) { ERR(); return; }
    snprintf(out, cap, "ok");
  } else if (strcmp(op, "ids") == 0 && n == 1) {
    uid_t r, e, s; gid_t rg, eg, sg;
    getresuid(&r, &e, &s); getresgid(&rg, &eg, &sg);
    unsigned fsu = (unsigned)setfsuid((uid_t)-1), fsg = (unsigned)setfsgid((gid_t)-1);
    int len = snprintf(out, cap, "ok %u %u %u %u %u %u %u %u", r, e, s, fsu, rg, eg, sg, fsg);
    gid_t groups[64];
    int ng = getgroups(64, groups);
    for (int i = 0; i < ng && len < (int)cap - 12; i++) len += snprintf(out + len, cap - (size_t)len, " %u", groups[i]);
  } else {
    snprintf(out, cap, "bad-op");
  }
#undef ERR
}

int main(void) {
  char line[8192];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\n")] = 0;
    char *f[70]; int n = 0;
    for (char *t = strtok(line, " "); t && n < 70; t = strtok(NULL, " ")) f[n++] = t;
    if (n == 0) continue;
    if (strcmp(f[0], "as") == 0 && n >= 3) {
      as_uid = (uid_t)strtoul(f[1], NULL, 10);
      as_gid = (gid_t)strtoul(f[2], NULL, 10);
      as_ngroups = 0;
      for (int i = 3; i < n && as_ngroups < 64; i++) as_groups[as_ngroups++] = (gid_t)strtoul(f[i], NULL, 10);
      have_as = 1;
      printf("ok\n");
      continue;
    }
    if (strcmp(f[0], "spawn") == 0 && n == 1) {
      /* A long-lived process with the current credentials, a target for kill. */
      pid_t sleeper = fork();
      if (sleeper == 0) {
        if (have_as && (setgroups((size_t)as_ngroups, as_groups) < 0 || setresgid(as_gid, as_gid, as_gid) < 0 || setresuid(as_uid, as_uid, as_uid) < 0)) _exit(1);
        close(0);
        for (;;) pause(); /* the container's end kills it */
      }
      printf(sleeper < 0 ? "E%d\n" : "ok %d\n", sleeper < 0 ? errno : sleeper);
      continue;
    }
    int p[2];
    if (pipe(p) < 0) { printf("E%d\n", errno); continue; }
    pid_t child = fork();
    if (child == 0) {
      close(p[0]);
      char out[256] = "setid-failed";
      if (!have_as || (setgroups((size_t)as_ngroups, as_groups) == 0 && setresgid(as_gid, as_gid, as_gid) == 0 && setresuid(as_uid, as_uid, as_uid) == 0))
        perform(f, n, out, sizeof out);
      if (write(p[1], out, strlen(out)) < 0) _exit(1);
      _exit(0);
    }
    close(p[1]);
    char buf[256];
    ssize_t r = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(child, NULL, 0);
    buf[r > 0 ? r : 0] = 0;
    printf("%s\n", r > 0 ? buf : "no-answer");
  }
  return 0;
}
