/*
 * fsidmap-stage: the small single-threaded program that does what Node.js
 * cannot. unshare(CLONE_NEWUSER) refuses a multi-threaded caller, and Node
 * always runs several threads, so every new user namespace is made here,
 * in a process fsidmap starts (runc's nsexec plays the same part in Go).
 * The maps themselves are written by fsidmap, from outside, after checking
 * them; this program never decides ids.
 *
 *   fsidmap-stage hold
 *     A user-namespace holder: unshares a user namespace, prints "ready",
 *     and lives until its stdin closes. fsidmap writes the namespace's maps
 *     and uses /proc/PID/ns/user to make an idmapped mount.
 *
 *   fsidmap-stage run [OPTIONS] -- CMD [ARGS...]
 *     Starts a container. fd 3 is the control socket to fsidmap; detached
 *     mounts (open_tree + mount_setattr, made by fsidmap as host root)
 *     arrive as inherited fds. Options:
 *       --rootfs PATH          attach --root-fd at PATH and pivot_root into it
 *       --root-fd N            the detached rootfs mount
 *       --volume N:DST         attach detached mount N at DST (inside the rootfs)
 *       --hostname H           --uid U --gid G --groups G1,G2,...
 *       --devpts-gid G         gid option of the devpts instance (-1: none)
 *       --stop-timeout S       SIGKILL the container S seconds after a stop signal
 *       --lower-fd N           (repeated, topmost first) a detached mount of an image
 *                              layer: the rootfs is then an overlay of these, mounted
 *                              from inside the container's user namespace
 *       --rw-fd N              with --lower-fd: the detached mount of the container's
 *                              directory, holding upper/ and work/
 *       --cwd DIR              CMD's working directory inside the container
 *       --network none         a network namespace of its own, with only loopback (up)
 *       --tty                  CMD gets a pseudo-terminal of the container's own devpts,
 *                              relayed by init to the caller's terminal (raw mode)
 *       --fault fail:STEP|pause:STEP
 *                              test hook: fail (EIO) or hang at a setup step, so
 *                              the tests can check cleanup after every step
 *
 *   fsidmap-stage exec --pid P --pid-start S --uid U --gid G --groups G,.. [--cwd D] [--tty 1]
 *                      [--network none] -- CMD...
 *     Runs CMD in a running container: joins the namespaces of its init
 *     (host pid P, whose /proc/P/stat start time must be S, checked on its
 *     pidfd) that run made, its root, then its credentials, and
 *     forks CMD inside its pid namespace. fd 3, when open, gets "error STEP
 *     ERRNO SUBJECT" lines as for run; the exit status is CMD's.
 *
 * Process tree: fsidmap → stage (this program, outside the new pid
 * namespace) → init (pid 1 inside) → CMD. The stage attaches the rootfs and
 * volumes as host root in a private mount namespace, then unshares user,
 * mount, pid, uts and ipc namespaces: the new mount namespace is a less
 * privileged copy, so the kernel locks those mounts (the container cannot
 * unmount them or remount a read-only volume writable). It reports "ready",
 * waits for "go" (the maps are written), becomes uid 0 of the namespace and
 * forks init. Init mounts proc, a minimal /dev and /tmp as the container's
 * root, pivots, drops to --uid/--gid, and forks CMD in a process group of its
 * own; it forwards signals to that group, reaps orphans, and exits with
 * CMD's status (128+signal when killed).
 * When init exits the kernel kills everything left in the pid namespace.
 * Every process here dies with its parent (PR_SET_PDEATHSIG), so nothing
 * outlives fsidmap, even after SIGKILL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CTL_FD 3
#define MAX_VOLUMES 64
#define MAX_GROUPS 1024
#define MAX_LOWERS 128
#define EXIT_SETUP 125

/* A volume: a detached mount (fd), or with --attach inside a directory to bind (path, opened after unshare). */
struct volume { int fd; const char *dst; const char *path; int readonly; };

static int open_in_root(int root, const char *path, int flags);

struct config {
  const char *rootfs;
  int root_fd;
  /* An image's layers (topmost first) and the writable layer's mount: the rootfs is an overlay of them. */
  int lower_fds[MAX_LOWERS];
  int nlowers;
  int rw_fd;
  const char *cwd;
  struct volume volumes[MAX_VOLUMES];
  int nvolumes;
  const char *hostname;
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  int ngroups;
  long devpts_gid;
  unsigned stop_timeout;
  /* stdin is the terminal and fsidmap is its foreground job: CMD takes the terminal over. */
  int take_tty;
  /* --attach inside: an ordinary user's container (no host-side step; see attach_inside). */
  int attach_inside;
  /* --network none: a network namespace of the container's own. */
  int net_none;
  /* --tty: CMD on a pty of the container's devpts, relayed by init. */
  int tty;
  char **argv;
};

static int ctl = -1;
static const char *fault_step;
static char fault_mode;

/* One line to fsidmap on the control socket; errors are reported, never printed here. */
static void say(const char *fmt, ...) {
  if (ctl < 0) return;
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  for (int off = 0; off < n;) {
    ssize_t w = write(ctl, buf + off, (size_t)(n - off));
    if (w < 0) { if (errno == EINTR) continue; return; }
    off += (int)w;
  }
}

/* A setup step failed: tell fsidmap which, with errno and the subject, and stop. */
static void fail(const char *step, int err, const char *subject) {
  say("error %s %d %s", step, err, subject ? subject : "");
  _exit(EXIT_SETUP);
}

/* A named setup step; the --fault test hook can make it fail or hang. */
static void point(const char *step) {
  if (!fault_step || strcmp(step, fault_step) != 0) return;
  if (fault_mode == 'f') fail(step, EIO, "injected fault");
  for (;;) pause();
}

static void die_with_parent(pid_t expected_parent) {
  /* Changing credentials clears the death signal, so this is repeated after every change. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail("pdeathsig", errno, NULL);
  if (getppid() != expected_parent) _exit(EXIT_SETUP);
}

static long parse_num(const char *s, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s) { fprintf(stderr, "fsidmap-stage: bad %s: %s\n", what, s); exit(2); }
  return v;
}

static void parse_args(int argc, char **argv, struct config *c) {
  memset(c, 0, sizeof *c);
  c->root_fd = -1;
  c->rw_fd = -1;
  c->uid = 0;
  c->gid = 0;
  c->devpts_gid = -1;
  c->stop_timeout = 10;
  int i = 2;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (i + 1 >= argc) { fprintf(stderr, "fsidmap-stage: %s needs a value\n", a); exit(2); }
    const char *v = argv[++i];
    if (strcmp(a, "--rootfs") == 0) c->rootfs = v;
    else if (strcmp(a, "--root-fd") == 0) c->root_fd = (int)parse_num(v, a);
    else if (strcmp(a, "--lower-fd") == 0) {
      if (c->nlowers == MAX_LOWERS) { fprintf(stderr, "fsidmap-stage: more than %d layers\n", MAX_LOWERS); exit(2); }
      c->lower_fds[c->nlowers++] = (int)parse_num(v, a);
    } else if (strcmp(a, "--rw-fd") == 0) c->rw_fd = (int)parse_num(v, a);
    else if (strcmp(a, "--cwd") == 0) c->cwd = v;
    else if (strcmp(a, "--network") == 0) {
      if (strcmp(v, "none") == 0) c->net_none = 1;
      else if (strcmp(v, "host") != 0) { fprintf(stderr, "fsidmap-stage: bad --network %s\n", v); exit(2); }
    } else if (strcmp(a, "--tty") == 0) c->tty = (int)parse_num(v, a);
    else if (strcmp(a, "--volume") == 0) {
      char *colon = strchr(v, ':');
      if (!colon || c->nvolumes == MAX_VOLUMES) { fprintf(stderr, "fsidmap-stage: bad --volume %s\n", v); exit(2); }
      *colon = 0;
      c->volumes[c->nvolumes].fd = (int)parse_num(v, a);
      c->volumes[c->nvolumes].dst = colon + 1;
      c->nvolumes++;
    } else if (strcmp(a, "--bind-volume") == 0) {
      /* SRC:DST:ro|rw, split from the right: DST has no colon (fsidmap checks), SRC may. */
      char *last = strrchr(v, ':');
      if (!last || c->nvolumes == MAX_VOLUMES) { fprintf(stderr, "fsidmap-stage: bad --bind-volume %s\n", v); exit(2); }
      *last = 0;
      char *mid = strrchr(v, ':');
      if (!mid) { fprintf(stderr, "fsidmap-stage: bad --bind-volume %s\n", v); exit(2); }
      *mid = 0;
      c->volumes[c->nvolumes].fd = -1;
      c->volumes[c->nvolumes].path = v;
      c->volumes[c->nvolumes].dst = mid + 1;
      c->volumes[c->nvolumes].readonly = strcmp(last + 1, "ro") == 0;
      c->nvolumes++;
    } else if (strcmp(a, "--attach") == 0) {
      if (strcmp(v, "inside") == 0) c->attach_inside = 1;
      else if (strcmp(v, "host") != 0) { fprintf(stderr, "fsidmap-stage: bad --attach %s\n", v); exit(2); }
    } else if (strcmp(a, "--hostname") == 0) c->hostname = v;
    else if (strcmp(a, "--uid") == 0) c->uid = (uid_t)parse_num(v, a);
    else if (strcmp(a, "--gid") == 0) c->gid = (gid_t)parse_num(v, a);
    else if (strcmp(a, "--groups") == 0) {
      char *copy = strdup(v), *save = NULL;
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (c->ngroups == MAX_GROUPS) { fprintf(stderr, "fsidmap-stage: more than %d groups\n", MAX_GROUPS); exit(2); }
        c->groups[c->ngroups++] = (gid_t)parse_num(t, a);
      }
      free(copy);
    } else if (strcmp(a, "--devpts-gid") == 0) c->devpts_gid = parse_num(v, a);
    else if (strcmp(a, "--stop-timeout") == 0) c->stop_timeout = (unsigned)parse_num(v, a);
    else if (strcmp(a, "--fault") == 0 && (strncmp(v, "fail:", 5) == 0 || strncmp(v, "pause:", 6) == 0)) {
      fault_mode = v[0];
      fault_step = strchr(v, ':') + 1;
    }
    else { fprintf(stderr, "fsidmap-stage: unknown option %s\n", a); exit(2); }
  }
  if (i >= argc) { fprintf(stderr, "fsidmap-stage: no command\n"); exit(2); }
  if ((c->nlowers > 0) != (c->rw_fd >= 0) || (c->nlowers > 0 && (!c->rootfs || c->root_fd >= 0))) {
    fprintf(stderr, "fsidmap-stage: --lower-fd and --rw-fd go together, with --rootfs and without --root-fd\n");
    exit(2);
  }
  c->argv = argv + i;
}

/* Opens PATH inside ROOT the way the container will see it: ".." and absolute symlinks stay inside. */
static int open_in_root(int root, const char *path, int flags) {
  struct open_how how = { .flags = (unsigned long long)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  while (*path == '/') path++;
  if (*path == 0) path = ".";
  return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
}

static void fd_path(int fd, char *buf, size_t n) { snprintf(buf, n, "/proc/self/fd/%d", fd); }

static void attach(int mount_fd, int target_fd, const char *what) {
  if (move_mount(mount_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail("attach", errno, what);
  close(mount_fd);
}

/*
 * An overlay rootfs is mounted only later, from inside the container's user
 * namespace, and what it is made of must be attached in that namespace's
 * mount table first: overlayfs clones each layer's mount privately, which
 * the kernel allows only for a mount of the caller's own namespace (a
 * detached mount made by host root belongs to an anonymous namespace the
 * container's root has no capability over). A root-attached volume, too,
 * must be attached now, as host root, for the next unshare to lock it (a
 * read-only volume the container could remount writable is no read-only
 * volume). So all of them wait on a small tmpfs at the rootfs directory,
 * one entry each: "l0".. (layers, topmost first), "rw" (the writable
 * layer's directory) and "v0".. (volumes, when with_volumes), and are found
 * there by make_overlay and attach_overlay (mode 0711: the container's
 * root, for whom host root's tmpfs is owned by nobody, may only pass through).
 * Returns the tmpfs's root.
 */
static int stage_mounts(struct config *c, int target, int with_volumes) {
  point("stage-mounts");
  int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
  if (fs < 0) fail("stage-mounts", errno, "fsopen(tmpfs)");
  if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "711", 0) < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "size", "64k", 0) < 0 ||
      fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    fail("stage-mounts", errno, "tmpfs");
  int m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  if (m < 0) fail("stage-mounts", errno, "fsmount(tmpfs)");
  close(fs);
  int dir = fcntl(m, F_DUPFD_CLOEXEC, 0);
  if (dir < 0) fail("stage-mounts", errno, c->rootfs);
  attach(m, target, c->rootfs);
  char name[16];
  for (int i = 0; i <= c->nlowers; i++) {
    if (i < c->nlowers) snprintf(name, sizeof name, "l%d", i);
    else snprintf(name, sizeof name, "rw");
    if (mkdirat(dir, name, 0700) < 0) fail("stage-mounts", errno, name);
    int t = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (t < 0) fail("stage-mounts", errno, name);
    attach(i < c->nlowers ? c->lower_fds[i] : c->rw_fd, t, name);
    close(t);
  }
  for (int i = 0; with_volumes && i < c->nvolumes; i++) {
    struct volume *v = &c->volumes[i];
    snprintf(name, sizeof name, "v%d", i);
    struct stat st;
    if (fstat(v->fd, &st) < 0) fail("stage-mounts", errno, v->dst);
    int made = S_ISDIR(st.st_mode) ? mkdirat(dir, name, 0700) : (close(openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600)), 0);
    if (made < 0) fail("stage-mounts", errno, v->dst);
    int t = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (t < 0) fail("stage-mounts", errno, v->dst);
    attach(v->fd, t, v->dst);
    close(t);
    v->fd = -1;
  }
  return dir;
}

/* A failed overlay step: the kernel's own words (the fs context's log) make the subject. */
static void overlay_fail(int fs, const char *step, int err, const char *what) {
  char msg[1024];
  int n = snprintf(msg, sizeof msg, "%s", what);
  char line[512];
  ssize_t r;
  while (fs >= 0 && n < (int)sizeof msg - 4 && (r = read(fs, line, sizeof line - 1)) > 0) {
    line[r] = 0;
    if (line[r - 1] == '\n') line[r - 1] = 0;
    n += snprintf(msg + n, sizeof msg - (size_t)n, "; %s", line);
  }
  for (char *q = msg; *q; q++) if (*q == '\n') *q = ' ';
  fail(step, err, msg);
}

/*
 * The overlay rootfs, made as the container's root in its own user
 * namespace: overlay then does its upper-layer work with the container's
 * credentials, which the writable layer's idmapped mount stores at the
 * image's ids (as host root it could store nothing there: EOVERFLOW, and a
 * silently read-only overlay). userxattr: overlay's own xattrs are
 * user.overlay.*, as a user namespace may set. Layers are given by their
 * mounts' descriptors (Linux 6.13 and later), so the detached mounts need no
 * path at all. Returns the detached overlay mount.
 */
static int make_overlay(struct config *c, int staging) {
  point("overlay");
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) fail("overlay", errno, "fsopen(overlay)");
  if (fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0) overlay_fail(fs, "overlay", errno, "userxattr");
  char name[32];
  for (int i = 0; i < c->nlowers; i++) {
    snprintf(name, sizeof name, "l%d", i);
    int l = openat(staging, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (l < 0) fail("overlay-layer", errno, name);
    if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, l) < 0) overlay_fail(fs, "overlay-layer", errno, "lowerdir+");
    close(l);
  }
  int up = openat(staging, "rw/upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (up < 0) fail("overlay-upper", errno, "upper");
  int work = openat(staging, "rw/work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (work < 0) fail("overlay-upper", errno, "work");
  if (fsconfig(fs, FSCONFIG_SET_FD, "upperdir", NULL, up) < 0) overlay_fail(fs, "overlay-upper", errno, "upperdir");
  if (fsconfig(fs, FSCONFIG_SET_FD, "workdir", NULL, work) < 0) overlay_fail(fs, "overlay-upper", errno, "workdir");
  close(up);
  close(work);
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) overlay_fail(fs, "overlay", errno, "create");
  int m = fsmount(fs, FSMOUNT_CLOEXEC, 0);
  if (m < 0) overlay_fail(fs, "overlay", errno, "fsmount");
  /* Overlay falls back to read-only, without failing, when it cannot use the upper layer: that is an error here. */
  struct statvfs sv;
  if (fstatvfs(m, &sv) < 0) fail("overlay", errno, "statvfs");
  if (sv.f_flag & ST_RDONLY) overlay_fail(fs, "overlay-readonly", EROFS, "the overlay came up read-only");
  close(fs);
  return m;
}

/*
 * Host-attach mode: the overlay goes on top of the staging tmpfs (staging
 * is its root in this mount namespace), and the staged volumes, cloned
 * with their locks, onto their places in it. Returns the overlay's root.
 */
static int attach_overlay(struct config *c, int staging) {
  int clones[MAX_VOLUMES];
  for (int i = 0; i < c->nvolumes; i++) {
    char name[16];
    snprintf(name, sizeof name, "v%d", i);
    clones[i] = open_tree(staging, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
    if (clones[i] < 0) fail("attach", errno, c->volumes[i].dst);
  }
  int m = make_overlay(c, staging);
  int top = fcntl(m, F_DUPFD_CLOEXEC, 0);
  if (top < 0) fail("attach", errno, c->rootfs);
  attach(m, staging, c->rootfs);
  close(staging);
  for (int i = 0; i < c->nvolumes; i++) {
    const struct volume *v = &c->volumes[i];
    int t = open_in_root(top, v->dst, O_PATH);
    if (t < 0) fail("open-volume-target", errno, v->dst);
    attach(clones[i], t, v->dst);
    close(t);
  }
  return top;
}

/* As host root, in a private mount namespace: the rootfs and volumes, which the next unshare locks. */
static int attach_host_side(struct config *c) {
  point("attach");
  if (unshare(CLONE_NEWNS) < 0) fail("unshare-mnt", errno, NULL);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("make-private", errno, "/");
  int root = -1;
  if (c->rootfs) {
    int t = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (t < 0) fail("open-rootfs", errno, c->rootfs);
    if (c->root_fd >= 0) attach(c->root_fd, t, c->rootfs);
    if (c->nlowers > 0) close(stage_mounts(c, t, 1));
    close(t);
    root = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) fail("open-rootfs", errno, c->rootfs);
  }
  for (int i = 0; i < c->nvolumes && c->nlowers == 0; i++) {
    const struct volume *v = &c->volumes[i];
    int t = root >= 0 ? open_in_root(root, v->dst, O_PATH) : open(v->dst, O_PATH | O_CLOEXEC);
    if (t < 0) fail("open-volume-target", errno, v->dst);
    attach(v->fd, t, v->dst);
    close(t);
  }
  return root;
}

/* Opens the directories of --bind-volume now, while this process still has the user's identity (it can search the user's home). */
static void open_bind_sources(struct config *c) {
  for (int i = 0; i < c->nvolumes; i++) {
    struct volume *v = &c->volumes[i];
    if (!v->path) continue;
    v->fd = open(v->path, O_PATH | O_CLOEXEC);
    if (v->fd < 0) fail("open-volume-source", errno, v->path);
  }
}

/*
 * --attach inside, for an ordinary user: there is no host-side step (the
 * user cannot make a mount namespace before it has a user namespace), so
 * the rootfs and volumes are attached here, as the container's root in its
 * own mount namespace. The detached mounts come from the broker with their
 * flags already locked; volumes without an fsid map are bind mounts of the
 * user's directories, cloned from the descriptors open_bind_sources took.
 * target is the rootfs directory, opened with the user's identity.
 */
static int attach_inside(struct config *c, int target) {
  point("attach");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("make-private", errno, "/");
  int root = target;
  if (c->nlowers > 0) {
    int staging = stage_mounts(c, target, 0);
    c->root_fd = make_overlay(c, staging);
    close(staging);
  }
  if (c->rootfs && c->root_fd >= 0) {
    /* After move_mount the mount's own descriptor is the way into it: the path above may not be searchable by this root. */
    int top = fcntl(c->root_fd, F_DUPFD_CLOEXEC, 0);
    if (top < 0) fail("attach", errno, c->rootfs);
    attach(c->root_fd, target, c->rootfs);
    close(target);
    root = top;
  }
  for (int i = 0; i < c->nvolumes; i++) {
    struct volume *v = &c->volumes[i];
    int src = v->fd;
    if (v->path) {
      src = open_tree(v->fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
      if (src < 0) fail("bind-volume", errno, v->path);
      close(v->fd);
      if (v->readonly) {
        struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
        if (mount_setattr(src, "", AT_EMPTY_PATH | AT_RECURSIVE, &ro, sizeof ro) < 0) fail("bind-volume", errno, v->path);
      }
    }
    int t = root >= 0 ? open_in_root(root, v->dst, O_PATH) : open(v->dst, O_PATH | O_CLOEXEC);
    if (t < 0) fail("open-volume-target", errno, v->dst);
    attach(src, t, v->dst);
    close(t);
  }
  return root;
}

static void mount_at(int dirfd, const char *rel, const char *source, const char *fstype, unsigned long flags, const char *data, const char *step) {
  int t = open_in_root(dirfd, rel, O_PATH | O_DIRECTORY);
  if (t < 0) fail(step, errno, rel);
  char p[64];
  fd_path(t, p, sizeof p);
  if (mount(source, p, fstype, flags, data) < 0) fail(step, errno, rel);
  close(t);
}

/* A minimal /dev: tmpfs with the harmless host devices bound in, a private devpts, and the usual links. */
static void make_dev(int root, long devpts_gid) {
  mount_at(root, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, "mode=755,size=65536k", "mount-dev");
  int dev = open_in_root(root, "dev", O_PATH | O_DIRECTORY);
  if (dev < 0) fail("mount-dev", errno, "dev");
  static const char *nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    char host[64], p[64];
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    int f = openat(dev, nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (f < 0) fail("mount-dev", errno, host);
    close(f);
    int t = openat(dev, nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (t < 0) fail("mount-dev", errno, host);
    fd_path(t, p, sizeof p);
    if (mount(host, p, NULL, MS_BIND, NULL) < 0) fail("mount-dev", errno, host);
    close(t);
  }
  if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0) fail("mount-dev", errno, "dev/pts");
  char opts[128];
  if (devpts_gid >= 0) snprintf(opts, sizeof opts, "newinstance,ptmxmode=0666,mode=0620,gid=%ld", devpts_gid);
  else snprintf(opts, sizeof opts, "newinstance,ptmxmode=0666,mode=0620");
  mount_at(dev, "pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, opts, "mount-devpts");
  mount_at(dev, "shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k", "mount-dev");
  static const char *links[][2] = {
    { "pts/ptmx", "ptmx" }, { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
    { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
  };
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i][0], dev, links[i][1]) < 0) fail("mount-dev", errno, links[i][1]);
  close(dev);
}

/* Inside the new namespaces, as the container's root and pid 1 of its pid namespace. */
static void setup_container_side(const struct config *c, int rootfd) {
  if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0) fail("hostname", errno, c->hostname);
  if (rootfd >= 0) {
    /*
     * The attached rootfs came from a more privileged mount namespace, so it
     * is locked, and pivot_root refuses a locked new root. A recursive clone
     * of it stacked on top is ours (the kernel unlocks the top of a copy; the
     * volumes under it stay locked), and its fd is a way in that needs no
     * search permission on the host directories above the rootfs.
     */
    int top = open_tree(rootfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (top < 0) fail("clone-rootfs", errno, c->rootfs);
    if (move_mount(top, "", rootfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) fail("clone-rootfs", errno, c->rootfs);
    if (fchdir(top) < 0) fail("chdir-rootfs", errno, c->rootfs);
    point("mount-proc");
    mount_at(top, "proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "mount-proc");
    point("mount-dev");
    make_dev(top, c->devpts_gid);
    mount_at(top, "tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "mount-tmp");
    close(top);
    close(rootfd);
    point("pivot-root");
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail("pivot-root", errno, c->rootfs);
    if (umount2(".", MNT_DETACH) < 0) fail("umount-old-root", errno, c->rootfs);
    if (chdir("/") < 0) fail("chdir-rootfs", errno, "/");
  } else {
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) fail("mount-proc", errno, "/proc");
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0) fail("mount-tmp", errno, "/tmp");
  }
  point("setuid");
  if (setgroups((size_t)c->ngroups, c->groups) < 0) fail("setgroups", errno, NULL);
  if (setresgid(c->gid, c->gid, c->gid) < 0) fail("setgid", errno, NULL);
  if (setresuid(c->uid, c->uid, c->uid) < 0) fail("setuid", errno, NULL);
}

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

static void block_signals(sigset_t *set) {
  sigemptyset(set);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(set, forwarded[i]);
  sigaddset(set, SIGCHLD);
  sigaddset(set, SIGALRM);
  sigprocmask(SIG_BLOCK, set, NULL);
}

static int status_code(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return EXIT_SETUP;
}

/*
 * The pseudo-terminal side of --tty (run and exec): a pty of the devpts
 * this process sees as /dev/ptmx (the container's own, once inside its
 * root), and a relay between it and the caller's stdin/stdout. The caller's
 * terminal goes to raw mode for the session, so Ctrl-C, Ctrl-Z and every
 * other key reach the pty's line discipline, which signals the container's
 * foreground job; its window size follows the caller's (SIGWINCH).
 */
static struct termios saved_tio;
static int tio_saved;

static void restore_tty(void) {
  if (tio_saved) tcsetattr(0, TCSADRAIN, &saved_tio);
  tio_saved = 0;
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

/* Opens the pty's master and names its slave; the session's child opens the slave (open_pty_slave). */
static int open_pty(char *slave, size_t n) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail("pty", errno, "/dev/ptmx");
  if (unlockpt(master) < 0 || ptsname_r(master, slave, n) != 0) fail("pty", errno, "unlockpt");
  copy_winsize(master);
  return master;
}

/* In the child: a session of its own whose controlling terminal is the slave, on fds 0, 1 and 2. */
static void open_pty_slave(const char *slave) {
  if (setsid() < 0) _exit(EXIT_SETUP);
  int fd = open(slave, O_RDWR);
  if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0) _exit(EXIT_SETUP);
  if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(EXIT_SETUP);
  if (fd > 2) close(fd);
}

static int write_all(int fd, const char *buf, ssize_t n) {
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(fd, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EAGAIN) {
      /* Someone set the shared file description non-blocking (Node does, on a terminal): wait until it takes more. */
      struct pollfd p = { fd, POLLOUT, 0 };
      poll(&p, 1, -1);
      continue;
    }
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    off += w;
  }
  return 0;
}

/*
 * Relays until `child` exits and returns its status. set holds the blocked
 * signals (SIGCHLD among them), read here through a signalfd: SIGWINCH
 * resizes the pty, SIGCHLD reaps (every orphan when reap_all: init), and
 * what another process sent (si_code <= 0) goes on to `target` (the
 * session's process group).
 */
static int relay_pty(int master, pid_t child, pid_t target, const sigset_t *set, int reap_all) {
  if (isatty(0) && tcgetattr(0, &saved_tio) == 0) {
    struct termios raw = saved_tio;
    cfmakeraw(&raw);
    tio_saved = 1;
    tcsetattr(0, TCSANOW, &raw);
  }
  int sfd = signalfd(-1, set, SFD_CLOEXEC);
  if (sfd < 0) fail("pty", errno, "signalfd");
  int in_open = 1, status = -1;
  char buf[16384];
  while (status < 0) {
    struct pollfd p[3] = { { sfd, POLLIN, 0 }, { master, POLLIN, 0 }, { in_open ? 0 : -1, POLLIN, 0 } };
    if (poll(p, 3, -1) < 0) { if (errno == EINTR) continue; break; }
    if (p[1].revents & POLLIN) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r > 0) write_all(1, buf, r);
    }
    if (p[2].revents & (POLLIN | POLLHUP)) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r > 0) write_all(master, buf, r);
      else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        /* The caller's input ended: the pty gets an end-of-file, as a terminal's ^D gives. */
        in_open = 0;
        write_all(master, "\004", 1);
      }
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) continue;
      if ((int)si.ssi_signo == SIGWINCH) { copy_winsize(master); if (si.ssi_code > 0) continue; }
      if ((int)si.ssi_signo != SIGCHLD) { if (si.ssi_code <= 0) kill(-target, (int)si.ssi_signo); continue; }
      for (;;) {
        int st;
        pid_t w = waitpid(reap_all ? -1 : child, &st, WNOHANG);
        if (w <= 0) break;
        if (w == child) status = status_code(st);
      }
    }
  }
  /* What CMD wrote last is still in the pty: pass it on before going. */
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  for (;;) {
    ssize_t r = read(master, buf, sizeof buf);
    if (r <= 0) break;
    write_all(1, buf, r);
  }
  restore_tty();
  return status < 0 ? EXIT_SETUP : status;
}

/* --network none: loopback up in the new network namespace (the container's root may, being root of its owner). */
static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail("network", errno, "socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail("network", errno, "lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail("network", errno, "lo");
  close(s);
}

/* pid 1: start CMD, pass signals on, reap everything, exit as CMD did. */
static void init_main(const struct config *c, int rootfd) {
  /* The stage is outside our pid namespace, so getppid() is 0 here. */
  die_with_parent(0);
  setup_container_side(c, rootfd);
  die_with_parent(0);
  /*
   * An ordinary user's fsidmap exec joins the container through init
   * (setns on its pidfd, /proc/1/root), which the kernel allows only with
   * ptrace access: the user has CAP_SYS_PTRACE in the container's user
   * namespace (they own it), but init's memory still counts as the user's
   * own namespace's, where they have none, unless init is dumpable. What
   * that opens up is init to CMD's own uid inside, which init's credentials
   * equal anyway. Root reaches it regardless, so a root run leaves it be.
   */
  if (c->attach_inside && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) fail("dumpable", errno, NULL);
  point("fork-cmd");
  char slave[64];
  int master = c->tty ? open_pty(slave, sizeof slave) : -1;
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) fail("exec", errno, c->argv[0]);
  /* Signals stay blocked from the stage on (a pid-1 init would drop them otherwise): sigwaitinfo takes them. */
  sigset_t set;
  block_signals(&set);
  pid_t cmd = fork();
  if (cmd < 0) fail("fork", errno, c->argv[0]);
  if (cmd == 0) {
    close(errpipe[0]);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (c->tty) open_pty_slave(slave);
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    /*
     * CMD leads a process group of its own, which init signals as a whole,
     * as a terminal does its foreground group: a shell waiting for a child
     * ignores SIGINT unless the child dies of it too.
     */
    if (!c->tty) setpgid(0, 0);
    if (c->take_tty) {
      /*
       * With the terminal, that group becomes its foreground: Ctrl-C and job
       * control concern CMD alone, and a shell's tcgetpgrp/tcsetpgrp see a
       * group of its own pid namespace (fsidmap's group is invisible in
       * there; dash fails on it).
       */
      sigset_t ttou;
      sigemptyset(&ttou);
      sigaddset(&ttou, SIGTTOU);
      sigprocmask(SIG_BLOCK, &ttou, NULL);
      tcsetpgrp(0, getpid());
      sigprocmask(SIG_UNBLOCK, &ttou, NULL);
    }
    if (c->cwd && chdir(c->cwd) < 0) {
      /* Told apart from exec's errno by its sign. */
      int e = -errno;
      if (write(errpipe[1], &e, sizeof e) < 0) { /* nothing left to tell */ }
      _exit(EXIT_SETUP);
    }
    execvp(c->argv[0], c->argv);
    int e = errno;
    if (write(errpipe[1], &e, sizeof e) < 0) { /* nothing left to tell */ }
    _exit(e == ENOENT ? 127 : 126);
  }
  /* Also here, so the group exists before init could signal it (whichever of the two runs first). */
  if (!c->tty) setpgid(cmd, cmd);
  close(errpipe[1]);
  int e = 0;
  ssize_t r;
  do r = read(errpipe[0], &e, sizeof e); while (r < 0 && errno == EINTR);
  close(errpipe[0]);
  if (r == (ssize_t)sizeof e && e < 0) {
    say("error chdir %d %s", -e, c->cwd);
    waitpid(cmd, NULL, 0);
    _exit(EXIT_SETUP);
  }
  if (r == (ssize_t)sizeof e) {
    say("error exec %d %s", e, c->argv[0]);
    waitpid(cmd, NULL, 0);
    _exit(e == ENOENT ? 127 : 126);
  }
  say("running");
  close(ctl);
  ctl = -1;
  if (c->tty) _exit(relay_pty(master, cmd, cmd, &set, 1));
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) continue;
    /*
     * Only signals a process sent (kill, sigqueue: si_code <= 0) are passed
     * on. A terminal's SIGINT, SIGQUIT, SIGHUP or SIGWINCH (SI_KERNEL)
     * already reached CMD itself, being sent to the whole foreground
     * process group; sending it again would deliver it twice.
     */
    if (sig != SIGCHLD) { if (si.si_code <= 0) kill(-cmd, sig); continue; }
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG);
      if (p <= 0) break;
      if (p == cmd) _exit(status_code(st));
    }
  }
}

/* CMD's group had the terminal; give it back to fsidmap's, or a caller without job control is left unable to read it. */
static void give_back_tty(void) {
  sigset_t ttou;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  sigprocmask(SIG_BLOCK, &ttou, NULL);
  tcsetpgrp(0, getpgrp());
  sigprocmask(SIG_UNBLOCK, &ttou, NULL);
}

static void read_go(void) {
  char buf[8];
  size_t got = 0;
  while (got < 3) {
    ssize_t r = read(ctl, buf + got, 3 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(EXIT_SETUP); /* fsidmap went away or gave up: nothing to clean, just stop */
    got += (size_t)r;
  }
  if (memcmp(buf, "go\n", 3) != 0) _exit(EXIT_SETUP);
}

static int run_main(int argc, char **argv) {
  struct config c;
  parse_args(argc, argv, &c);
  ctl = CTL_FD;
  if (fcntl(ctl, F_SETFD, FD_CLOEXEC) < 0) { fprintf(stderr, "fsidmap-stage: no control socket on fd 3\n"); return 2; }
  pid_t parent = getppid();
  die_with_parent(parent);
  int hostroot = c.attach_inside ? -1 : attach_host_side(&c);
  /*
   * unshare(CLONE_NEWNS) moves the working directory to its copy in the new
   * mount namespace: being in the rootfs then is a way back to it that
   * needs no search permission on the directories above (a user's 0700
   * home), which host root loses with the new user namespace.
   */
  if (hostroot >= 0 && fchdir(hostroot) < 0) fail("open-rootfs", errno, c.rootfs);
  point("unshare");
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | (c.net_none ? CLONE_NEWNET : 0)) < 0)
    fail("unshare", errno, NULL);
  /*
   * The rootfs as this new mount namespace has it. Opened now, while this
   * process is still host uid 0 and owns the (often 0700, root-owned)
   * directories above it; the container's root may not search them.
   */
  int rootfd = -1;
  if (c.rootfs) {
    rootfd = hostroot >= 0 ? open(".", O_PATH | O_DIRECTORY | O_CLOEXEC) : open(c.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) fail("open-rootfs", errno, c.rootfs);
  }
  if (hostroot >= 0) close(hostroot);
  if (c.attach_inside) open_bind_sources(&c);
  say("ready");
  read_go();
  point("setid");
  /* The maps are written: become the namespace's root (kuid of its 0), which keeps every capability in it. */
  if (setgroups(0, NULL) < 0) fail("setgroups", errno, NULL);
  if (setresgid(0, 0, 0) < 0) fail("setgid", errno, "0");
  if (setresuid(0, 0, 0) < 0) fail("setuid", errno, "0");
  die_with_parent(parent);
  if (c.net_none) loopback_up();
  if (c.attach_inside) rootfd = attach_inside(&c, rootfd);
  else if (c.nlowers > 0) rootfd = attach_overlay(&c, rootfd);
  sigset_t set;
  block_signals(&set);
  /* Outside the new pid namespace the terminal's foreground group is visible: is it ours? */
  c.take_tty = !c.tty && isatty(0) && tcgetpgrp(0) == getpgrp();
  pid_t init = fork();
  if (init < 0) fail("fork", errno, NULL);
  if (init == 0) init_main(&c, rootfd);
  if (rootfd >= 0) close(rootfd);
  say("started %d", (int)init);
  close(ctl);
  ctl = -1;
  int stopping = 0;
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      int st;
      pid_t p = waitpid(init, &st, WNOHANG);
      if (p == init) {
        if (c.take_tty) give_back_tty();
        return status_code(st);
      }
      continue;
    }
    if (sig == SIGALRM) { if (stopping) kill(init, SIGKILL); continue; }
    /*
     * A terminal's signals (SI_KERNEL) went to CMD directly, and fsidmap
     * decides whether they stop the container; only what a process sent
     * (fsidmap's stop, or a user's kill of this pid) is acted on.
     */
    if (si.si_code > 0) continue;
    /* init keeps these blocked and passes them on to CMD. */
    kill(init, sig);
    if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && !stopping) {
      stopping = 1;
      if (c.stop_timeout == 0) kill(init, SIGKILL);
      else alarm(c.stop_timeout);
    }
  }
}

/* Field 22 of /proc/PID/stat, the start time that tells a process from a later one with its number. */
static int proc_start(pid_t pid, char *out, size_t n) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (r <= 0) return -1;
  buf[r] = 0;
  char *q = strrchr(buf, ')');
  if (!q) return -1;
  q += 2;
  for (int field = 3; field < 22 && q; field++) {
    q = strchr(q, ' ');
    if (q) q++;
  }
  if (!q) return -1;
  size_t len = strcspn(q, " ");
  if (len >= n) return -1;
  memcpy(out, q, len);
  out[len] = 0;
  return 0;
}

/* fsidmap exec: CMD in a running container, as one of its processes (see the top of this file). */
static int exec_main(int argc, char **argv) {
  pid_t pid = 0;
  const char *want_start = NULL, *cwd = NULL;
  uid_t uid = 0;
  gid_t gid = 0, groups[MAX_GROUPS];
  int ngroups = 0, tty = 0, net = 0, i = 2;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (i + 1 >= argc) { fprintf(stderr, "fsidmap-stage: %s needs a value\n", a); exit(2); }
    const char *v = argv[++i];
    if (strcmp(a, "--pid") == 0) pid = (pid_t)parse_num(v, a);
    else if (strcmp(a, "--pid-start") == 0) want_start = v;
    else if (strcmp(a, "--uid") == 0) uid = (uid_t)parse_num(v, a);
    else if (strcmp(a, "--gid") == 0) gid = (gid_t)parse_num(v, a);
    else if (strcmp(a, "--cwd") == 0) cwd = v;
    else if (strcmp(a, "--tty") == 0) tty = (int)parse_num(v, a);
    else if (strcmp(a, "--network") == 0) net = strcmp(v, "none") == 0;
    else if (strcmp(a, "--groups") == 0) {
      char *copy = strdup(v), *save = NULL;
      for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (ngroups == MAX_GROUPS) { fprintf(stderr, "fsidmap-stage: more than %d groups\n", MAX_GROUPS); exit(2); }
        groups[ngroups++] = (gid_t)parse_num(t, a);
      }
      free(copy);
    } else { fprintf(stderr, "fsidmap-stage: unknown option %s\n", a); exit(2); }
  }
  if (i >= argc || pid <= 0 || !want_start) { fprintf(stderr, "fsidmap-stage: exec needs --pid, --pid-start and a command\n"); exit(2); }
  char **cmdv = argv + i;
  if (fcntl(CTL_FD, F_SETFD, FD_CLOEXEC) == 0) ctl = CTL_FD;
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) fail("exec-pidfd", errno, NULL);
  /* Checked after the pidfd is taken: a match means the pidfd is the container's init, not a later process with its number. */
  char start[32];
  if (proc_start(pid, start, sizeof start) < 0 || strcmp(start, want_start) != 0) fail("exec-pidfd", ESRCH, "init is gone");
  char rootp[64];
  snprintf(rootp, sizeof rootp, "/proc/%d/root", (int)pid);
  /*
   * Init's root, where the kernel lets us see it: an ordinary user may not
   * when init is not dumpable (its memory belongs to the user's own
   * namespace, where the user has no CAP_SYS_PTRACE; the stage makes an
   * ordinary user's init dumpable, see attach_inside). Then the mount
   * namespace's own root serves: setns puts us on what is mounted at its
   * "/", which is the rootfs init pivoted to.
   */
  int rootfd = open(rootp, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0 && errno != EACCES && errno != EPERM) fail("exec-root", errno, rootp);
  /*
   * The namespaces run made (its own network only with --network none;
   * never a cgroup namespace): an ordinary user may not look at init's
   * /proc/PID/ns to compare, and may not "join" the host's own network.
   */
  int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | (net ? CLONE_NEWNET : 0);
  if (setns(pidfd, flags) < 0) fail("setns", errno, NULL);
  close(pidfd);
  if (rootfd >= 0) {
    if (fchdir(rootfd) < 0 || chroot(".") < 0) fail("exec-root", errno, "/");
    close(rootfd);
  }
  if (setgroups((size_t)ngroups, groups) < 0) fail("setgroups", errno, NULL);
  if (setresgid(gid, gid, gid) < 0) fail("setgid", errno, NULL);
  if (setresuid(uid, uid, uid) < 0) fail("setuid", errno, NULL);
  if (chdir(cwd ? cwd : "/") < 0) fail("chdir", errno, cwd ? cwd : "/");
  char slave[64];
  int master = tty ? open_pty(slave, sizeof slave) : -1;
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) fail("exec", errno, cmdv[0]);
  sigset_t set;
  block_signals(&set);
  pid_t child = fork();
  if (child < 0) fail("fork", errno, cmdv[0]);
  if (child == 0) {
    close(errpipe[0]);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (tty) open_pty_slave(slave);
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    execvp(cmdv[0], cmdv);
    int e = errno;
    if (write(errpipe[1], &e, sizeof e) < 0) { /* nothing left to tell */ }
    _exit(e == ENOENT ? 127 : 126);
  }
  close(errpipe[1]);
  int e = 0;
  ssize_t r;
  do r = read(errpipe[0], &e, sizeof e); while (r < 0 && errno == EINTR);
  close(errpipe[0]);
  if (r == (ssize_t)sizeof e) {
    say("error exec %d %s", e, cmdv[0]);
    waitpid(child, NULL, 0);
    return e == ENOENT ? 127 : 126;
  }
  if (ctl >= 0) close(ctl);
  ctl = -1;
  if (tty) return relay_pty(master, child, child, &set, 0);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) continue;
    if (sig == SIGCHLD) {
      int st;
      if (waitpid(child, &st, WNOHANG) == child) return status_code(st);
      continue;
    }
    /* The terminal's own signals (SI_KERNEL) reached CMD too, being in our process group. */
    if (si.si_code <= 0) kill(child, sig);
  }
}

/* A user namespace that lives until stdin closes; its maps are written from outside. */
static int hold_main(void) {
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) return 1;
  if (unshare(CLONE_NEWUSER) < 0) {
    printf("error unshare %d\n", errno);
    fflush(stdout);
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) { }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "hold") == 0) return hold_main();
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return run_main(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "exec") == 0) return exec_main(argc, argv);
  fprintf(stderr, "usage: fsidmap-stage hold | run [OPTIONS] -- CMD [ARGS...] | exec [OPTIONS] -- CMD [ARGS...]\n");
  return 2;
}
