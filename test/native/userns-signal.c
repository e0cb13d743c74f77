/*
 * userns-signal: asks the real kernel whether processes in different user
 * namespaces may signal (kill(pid, 0)) and trace (process_vm_readv, which
 * needs PTRACE_MODE_ATTACH_REALCREDS) each other, for the differential
 * tests of src/userns/task.ts. Run as root. Input on stdin:
 *
 *   proc UIDMAP GIDMAP UID GID    (one per process; UIDMAP "-": stay in the
 *                                  initial namespace; else a new user
 *                                  namespace whose maps root writes)
 *   check SENDER TARGET           (indexes of proc lines, from 0)
 *   end
 *
 * Each process becomes root of its namespace first when it can (as the
 * model's runtime-like setup does), then setresgid/setresuid to GID/UID,
 * then marks itself dumpable (the model does not model the dumpable flag).
 * Per check it prints "KILL PTRACE" where each is ok or an errno name.
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
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXP 64

static volatile char probe_byte = 42;

static void die(const char *what) {
  fprintf(stderr, "userns-signal: %s: %s\n", what, strerror(errno));
  exit(99);
}

static const char *errname(int e) {
  switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    case EACCES: return "EACCES";
    default: { static char b[16]; snprintf(b, sizeof b, "E%d", e); return b; }
  }
}

static void write_map(pid_t pid, const char *file, const char *spec) {
  char path[64], text[1024];
  size_t n = 0;
  for (const char *p = spec; *p && n + 2 < sizeof text; p++) text[n++] = *p == ':' ? ' ' : *p == ',' ? '\n' : *p;
  text[n++] = '\n';
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, text, n) < 0) die(path);
  close(fd);
}

struct proc { pid_t pid; int cmd[2], res[2]; };

/* A process under test: answers "k PID" / "p PID" commands with an errno. */
static void serve(int in, int out) {
  int32_t msg[2];
  while (read(in, msg, sizeof msg) == sizeof msg) {
    int32_t e = 0;
    if (msg[0] == 'k') {
      e = kill(msg[1], 0) == 0 ? 0 : errno;
    } else {
      char buf;
      struct iovec local = { &buf, 1 }, remote = { (void *)&probe_byte, 1 };
      e = process_vm_readv(msg[1], &local, 1, &remote, 1, 0) == 1 ? 0 : errno;
    }
    if (write(out, &e, sizeof e) != sizeof e) _exit(98);
  }
  _exit(0);
}

int main(void) {
  static struct proc procs[MAXP];
  int n = 0;
  char line[2048];
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  while (fgets(line, sizeof line, stdin)) {
    char um[1024], gm[1024];
    unsigned uid, gid;
    int a, b;
    if (sscanf(line, "proc %1023s %1023s %u %u", um, gm, &uid, &gid) == 4) {
      if (n >= MAXP) { fprintf(stderr, "userns-signal: too many processes\n"); return 2; }
      struct proc *p = &procs[n++];
      int ready[2], go[2];
      if (pipe(p->cmd) || pipe(p->res) || pipe(ready) || pipe(go)) die("pipe");
      p->pid = fork();
      if (p->pid < 0) die("fork");
      if (p->pid == 0) {
        char c = 'r';
        /* Keep only this process's own pipe ends, so every process sees EOF when the driver closes its command pipe. */
        for (int i = 0; i < n - 1; i++) { close(procs[i].cmd[1]); close(procs[i].res[0]); }
        close(p->cmd[1]); close(p->res[0]); close(ready[0]); close(go[1]);
        if (strcmp(um, "-") != 0 && unshare(CLONE_NEWUSER)) die("unshare");
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(98);
        if (setgroups(0, NULL) && errno != EPERM) die("setgroups");
        if (setresgid(0, 0, 0) == 0) { if (setresuid(0, 0, 0)) die("root first"); }
        if (setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) die("set ids");
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        if (write(ready[1], &c, 1) != 1) _exit(98);
        serve(p->cmd[0], p->res[1]);
      }
      close(p->cmd[0]); close(p->res[1]); close(ready[1]); close(go[0]);
      char c;
      if (read(ready[0], &c, 1) != 1) die("ready");
      if (strcmp(um, "-") != 0) { write_map(p->pid, "uid_map", um); write_map(p->pid, "gid_map", gm); }
      if (write(go[1], &c, 1) != 1 || read(ready[0], &c, 1) != 1) die("started");
      close(ready[0]); close(go[1]);
    } else if (sscanf(line, "check %d %d", &a, &b) == 2) {
      if (a < 0 || a >= n || b < 0 || b >= n) { fprintf(stderr, "userns-signal: bad check\n"); return 2; }
      int32_t e[2];
      for (int k = 0; k < 2; k++) {
        int32_t msg[2] = { k == 0 ? 'k' : 'p', procs[b].pid };
        if (write(procs[a].cmd[1], msg, sizeof msg) != sizeof msg || read(procs[a].res[0], &e[k], sizeof e[k]) != sizeof e[k]) die("check");
      }
      printf("%s %s\n", errname(e[0]), errname(e[1]));
    } else if (strncmp(line, "end", 3) == 0) {
      break;
    }
  }
  fflush(stdout);
  for (int i = 0; i < n; i++) { close(procs[i].cmd[1]); }
  for (int i = 0; i < n; i++) { int st; waitpid(procs[i].pid, &st, 0); }
  return 0;
}
