/*
 * libfsidmap-tree: the system-call engine of `fsidmap image shift` and
 * `image inspect` for directory trees, loaded into the Node.js process with
 * koffi (src/kernel/file/tree-engine.ts). It only reads and writes what it is told:
 * planning (which ids move where, refusals), the journal, checkpoints and the
 * CLI stay in TypeScript. Three jobs:
 *
 *   scan   walk a tree: getdents64, statx and listxattr of every entry
 *          relative to its directory fd, getxattr only of entries that hold
 *          a POSIX ACL or a file capability. Emits columns (see fst_scan_take).
 *   probe  the same per-entry reads for a list of relative paths (resuming),
 *          each through one O_PATH fd of the entry.
 *   apply  per planned row: open the entry once (O_PATH, relative to its
 *          parent directory's fd), check it is the planned inode (dev, ino),
 *          then fchownat, fchmodat2 (setuid/setgid restore) and setxattr of
 *          ACLs and the capability, all on that fd; every value is absolute,
 *          from the journal, so doing a row twice is harmless.
 *
 * All three spread their work over a few threads (directories for scan,
 * blocks of rows for apply/probe): on ext4 the per-entry calls spend their
 * time in the kernel and run in parallel on separate cores (docs/image-tree.md
 * has the figures). Work is done in steps bounded in time or rows, so the
 * Node event loop can draw progress, take checkpoints and see SIGINT between
 * them. Threads block every signal: signals go to Node's threads.
 *
 * Directories are opened with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)
 * from the tree's root fd (RESOLVE_NO_XDEV too unless crossing mounts), so a
 * symlink swapped into the tree can never redirect a read or a write outside
 * it. Kernels without openat2 walk the path one component at a time with
 * openat(O_NOFOLLOW|O_DIRECTORY), checking each is on the root's mount. No
 * call ever resolves a path from the root by name: xattrs of an O_PATH fd are
 * reached through its /proc/self/fd magic link, which leads to that inode
 * only (docs/image-tree.md, "Safety against a changing tree").
 *
 * Every function returns 0 or a count on success and -errno on failure; the
 * failing entry and call are kept for fst_*_failure. Nothing here exits or
 * prints.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
#ifndef SYS_listxattrat
#define SYS_listxattrat 465
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x1000U
#endif
#ifndef STATX_ATTR_IMMUTABLE
#define STATX_ATTR_IMMUTABLE 0x10
#endif
#ifndef STATX_ATTR_APPEND
#define STATX_ATTR_APPEND 0x20
#endif

#define FST_CROSS 1u          /* flags: enter other mounts below the root */
#define MAX_THREADS 16
#define XATTR_MAX_BYTES 65536 /* XATTR_SIZE_MAX and XATTR_LIST_MAX */

/* The xattrs that hold ids, in slot order (the journal's slot numbers). */
static const char *const ID_XATTRS[3] = {"system.posix_acl_access", "system.posix_acl_default", "security.capability"};

/* Call codes for failures, named on the TypeScript side. */
enum { CALL_OPEN = 1, CALL_GETDENTS, CALL_STATX, CALL_LISTXATTR, CALL_GETXATTR, CALL_CHOWN, CALL_CHMOD, CALL_SETXATTR, CALL_OPEN_PARENT,
       CALL_OPEN_ENTRY, CALL_IDENTITY, CALL_PROC };

struct xattr_args_k { uint64_t value; uint32_t size; uint32_t flags; };

/* ------------------------------------------------------------------ bytes */

struct buf { uint8_t *p; size_t len, cap; };

static int buf_reserve(struct buf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return -ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

static int buf_put(struct buf *b, const void *src, size_t n) {
  if (n == 0) return 0; /* src may be NULL then (an empty buf): memcpy(NULL, NULL, 0) is undefined */
  int r = buf_reserve(b, n);
  if (r) return r;
  memcpy(b->p + b->len, src, n);
  b->len += n;
  return 0;
}

static int put_u32(struct buf *b, uint32_t v) { return buf_put(b, &v, 4); }
static int put_f64(struct buf *b, double v) { return buf_put(b, &v, 8); }
static void buf_free(struct buf *b) { free(b->p); b->p = NULL; b->len = b->cap = 0; }

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ------------------------------------------------------- the tree's root */

struct root {
  int fd;               /* O_DIRECTORY fd of the root */
  uint64_t mnt_id;
  int have_mnt_id;
  uint64_t dev;         /* st_dev when the kernel has no STATX_MNT_ID */
  uint32_t flags;
  int have_proc;        /* /proc/self/fd is procfs: the path calls on an O_PATH fd go through it */
};

/* Set to 0 the first time the kernel answers ENOSYS (a benign race between threads: all write 0). */
static volatile int have_openat2 = 1, have_xattrat = 1, have_fchmodat2 = 1;

static int root_open(struct root *r, const char *path, uint32_t flags) {
  memset(r, 0, sizeof *r);
  r->fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (r->fd < 0) return -errno;
  struct statx st;
  if (statx(r->fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_MNT_ID, &st) != 0) {
    int e = errno;
    close(r->fd);
    return -e;
  }
  r->have_mnt_id = (st.stx_mask & STATX_MNT_ID) != 0;
  r->mnt_id = st.stx_mnt_id;
  r->dev = makedev(st.stx_dev_major, st.stx_dev_minor);
  r->flags = flags;
  struct statfs sf;
  r->have_proc = statfs("/proc/self/fd", &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC;
  return 0;
}

static void root_close(struct root *r) {
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
}

static int is_other_mount(const struct root *r, const struct statx *st) {
  if (r->have_mnt_id && (st->stx_mask & STATX_MNT_ID)) return st->stx_mnt_id != r->mnt_id;
  return makedev(st->stx_dev_major, st->stx_dev_minor) != r->dev;
}

/* Refuses fd when it is on another mount than the root's (unless crossing mounts): -EXDEV. */
static int same_mount(const struct root *r, int fd) {
  if (r->flags & FST_CROSS) return 0;
  struct statx st;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &st) != 0) return -errno;
  return is_other_mount(r, &st) ? -EXDEV : 0;
}

/*
 * Kernels without openat2: rel walked one component at a time, each opened
 * with O_NOFOLLOW|O_DIRECTORY relative to the one before (a symlink anywhere
 * fails with ELOOP or ENOTDIR, it is never followed) and checked to be on the
 * root's mount (EXDEV otherwise). Names are what a scan produced: no empty,
 * "." or ".." component.
 */
static int walk_dir(const struct root *r, int base, const char *rel, int last_flags) {
  int fd = openat(base, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char comp[NAME_MAX + 1];
  for (const char *p = rel; *p;) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len == 0 || len > NAME_MAX || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) { close(fd); return -EINVAL; }
    memcpy(comp, p, len);
    comp[len] = 0;
    p += len + (slash ? 1 : 0);
    int last = *p == 0;
    int next = openat(fd, comp, (last ? last_flags : O_PATH | O_DIRECTORY | O_CLOEXEC) | O_NOFOLLOW | O_DIRECTORY);
    int e = errno;
    close(fd);
    if (next < 0) return -e;
    int rc = same_mount(r, next);
    if (rc) { close(next); return rc; }
    fd = next;
  }
  return fd;
}

/*
 * Opens the directory at rel relative to base (a directory of the tree
 * reached the same way, or the root; "" for base itself) without following
 * any symlink and without leaving base (nor the root's mount, unless
 * crossing). O_PATH is enough for the *at calls; listing needs a read fd.
 * Opening relative to the nearest directory already open, rather than from
 * the root, keeps the kernel's walk one or a few components long whatever the
 * depth: from the root, each open walked the whole path.
 */
static int open_dir_at(const struct root *r, int base, const char *rel, int for_listing) {
  int oflags = (for_listing ? O_RDONLY : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  if (!rel[0]) {
    int fd = openat(base, ".", oflags);
    return fd >= 0 ? fd : -errno;
  }
  if (have_openat2) {
    struct open_how how = {.flags = (uint64_t)oflags, .mode = 0,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | ((r->flags & FST_CROSS) ? 0 : RESOLVE_NO_XDEV)};
    int fd = (int)syscall(SYS_openat2, base, rel, &how, sizeof how);
    if (fd >= 0) return fd;
    if (errno != ENOSYS) return -errno;
    have_openat2 = 0;
  }
  return walk_dir(r, base, rel, oflags & ~O_NOFOLLOW);
}

static int open_dir(const struct root *r, const char *rel, int for_listing) { return open_dir_at(r, r->fd, rel, for_listing); }

/*
 * An O_PATH fd of the entry `name` (one component) in the directory dirfd:
 * the entry itself, a symlink included, never what it points to, and never
 * the root of another mount (EXDEV) unless crossing. "" is dirfd's own
 * directory (the tree's root). The caller closes it.
 */
static int open_entry(const struct root *r, int dirfd, const char *name) {
  if (!name[0]) {
    int fd = openat(dirfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 ? fd : -errno;
  }
  if (have_openat2) {
    struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC, .mode = 0,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | ((r->flags & FST_CROSS) ? 0 : RESOLVE_NO_XDEV)};
    int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
    if (fd >= 0) return fd;
    if (errno != ENOSYS) return -errno;
    have_openat2 = 0;
  }
  /* One component, final symlink not followed: the mount check is the caller's (check_entry). */
  int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

static double dev_of(const struct statx *st) { return (double)st->stx_dev_major * 4294967296.0 + st->stx_dev_minor; }

/*
 * statx of an entry's fd into st, and the check that it is the inode the
 * plan names: -EXDEV on another mount (unless crossing), -ESTALE when
 * (dev, ino) differ. A NaN dev (a plan from an older journal) checks ino only.
 */
static int is_planned_entry(const struct root *r, const struct statx *st, double ino, double dev) {
  if (!(r->flags & FST_CROSS) && is_other_mount(r, st)) return -EXDEV;
  if ((double)st->stx_ino != ino || (dev == dev && dev_of(st) != dev)) return -ESTALE;
  return 0;
}

static int check_entry(const struct root *r, int fd, unsigned mask, double ino, double dev, struct statx *st) {
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, mask | STATX_TYPE | STATX_INO | STATX_MNT_ID, st) != 0) return -errno;
  return is_planned_entry(r, st, ino, dev);
}

/* ----------------------------------------------------------- xattr calls */

/*
 * Where the xattr calls of one entry go, one of:
 *   fd     an fd open for reading (the root): flistxattr/fgetxattr/fsetxattr;
 *   proc   "/proc/self/fd/N" for an O_PATH fd of the entry (the f*xattr and
 *          *xattrat calls refuse O_PATH fds with EBADF): the path calls
 *          follow that magic link to the fd's own inode and nowhere else,
 *          and it is never a symlink (those carry no ACLs or capabilities);
 *   dirfd + name, with the *xattrat calls (Linux 6.13) and
 *          AT_SYMLINK_NOFOLLOW: reads of a scan, relative to a directory fd
 *          opened beneath the root. -ENOSYS when the kernel lacks them.
 * Nothing here resolves a path from the root.
 */
struct xtarget { int fd; const char *proc; int dirfd; const char *name; };

static ssize_t list_xattrs(const struct xtarget *t, char *out, size_t size) {
  ssize_t n;
  if (t->fd >= 0) n = flistxattr(t->fd, out, size);
  else if (t->proc) n = listxattr(t->proc, out, size);
  else {
    n = syscall(SYS_listxattrat, t->dirfd, t->name, AT_SYMLINK_NOFOLLOW, out, size);
    if (n < 0 && errno == ENOSYS) have_xattrat = 0;
  }
  return n >= 0 ? n : -errno;
}

static ssize_t get_xattr(const struct xtarget *t, const char *xname, void *out, size_t size) {
  ssize_t n;
  if (t->fd >= 0) n = fgetxattr(t->fd, xname, out, size);
  else if (t->proc) n = getxattr(t->proc, xname, out, size);
  else {
    struct xattr_args_k args = {.value = (uint64_t)(uintptr_t)out, .size = (uint32_t)size, .flags = 0};
    n = syscall(SYS_getxattrat, t->dirfd, t->name, AT_SYMLINK_NOFOLLOW, xname, &args, sizeof args);
    if (n < 0 && errno == ENOSYS) have_xattrat = 0;
  }
  return n >= 0 ? n : -errno;
}

/* Writes go to an fd or its /proc path only: apply holds every entry it changes open. */
static int set_xattr(const struct xtarget *t, const char *xname, const void *value, size_t size) {
  int rc = t->fd >= 0 ? fsetxattr(t->fd, xname, value, size, 0) : setxattr(t->proc, xname, value, size, 0);
  return rc == 0 ? 0 : -errno;
}

/* "/proc/self/fd/N" into out (32 bytes), or -ENOENT when /proc is not mounted (the caller fails closed). */
static int proc_path(const struct root *r, int fd, char *out) {
  if (!r->have_proc) return -ENOENT;
  snprintf(out, 32, "/proc/self/fd/%d", fd);
  return 0;
}

/* ------------------------------------------------------------- columns */

/*
 * What a scan or probe found, one row per entry: the columns the TypeScript
 * side plans with. Xattr records: u32 row, u8 slot (ID_XATTRS index), u32
 * length, bytes.
 */
struct cols {
  struct buf ino, dev, uid, gid, mode, nlink; /* f64, f64, u32 x4 */
  struct buf offs, paths;                     /* u32 start of each name; NUL-terminated names (one component, "" for the root) */
  struct buf parents;                         /* u32 row of each entry's directory (NO_PARENT for the root) */
  struct buf xattrs, locked, skipped;         /* records; u32 rows; NUL-terminated paths */
  uint32_t n, nxattrs, nlocked, nskipped;
};

static void cols_free(struct cols *c) {
  struct buf *all[] = {&c->ino, &c->dev, &c->uid, &c->gid, &c->mode, &c->nlink, &c->offs, &c->paths, &c->parents, &c->xattrs, &c->locked, &c->skipped};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) buf_free(all[i]);
  memset(c, 0, sizeof *c);
}

static void cols_reset(struct cols *c) {
  struct buf *all[] = {&c->ino, &c->dev, &c->uid, &c->gid, &c->mode, &c->nlink, &c->offs, &c->paths, &c->parents, &c->xattrs, &c->locked, &c->skipped};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) all[i]->len = 0;
  c->n = c->nxattrs = c->nlocked = c->nskipped = 0;
}

/* Appends src's rows to dst (row numbers and name offsets rebased; parent rows are global already). */
static int cols_merge(struct cols *dst, const struct cols *src) {
  /* The block handed to JavaScript counts rows and bytes in u32 (cols_take): refuse what would not fit. */
  if ((uint64_t)dst->n + src->n > UINT32_MAX || (uint64_t)dst->paths.len + src->paths.len > UINT32_MAX ||
      (uint64_t)dst->xattrs.len + src->xattrs.len > UINT32_MAX || (uint64_t)dst->skipped.len + src->skipped.len > UINT32_MAX)
    return -EOVERFLOW;
  uint32_t base = dst->n, pbase = (uint32_t)dst->paths.len;
  int r = 0;
  r = r ? r : buf_put(&dst->ino, src->ino.p, src->ino.len);
  r = r ? r : buf_put(&dst->dev, src->dev.p, src->dev.len);
  r = r ? r : buf_put(&dst->uid, src->uid.p, src->uid.len);
  r = r ? r : buf_put(&dst->gid, src->gid.p, src->gid.len);
  r = r ? r : buf_put(&dst->mode, src->mode.p, src->mode.len);
  r = r ? r : buf_put(&dst->nlink, src->nlink.p, src->nlink.len);
  r = r ? r : buf_put(&dst->paths, src->paths.p, src->paths.len);
  r = r ? r : buf_put(&dst->parents, src->parents.p, src->parents.len); /* rows of directories already merged: global */
  r = r ? r : buf_put(&dst->skipped, src->skipped.p, src->skipped.len);
  r = r ? r : buf_reserve(&dst->offs, src->offs.len);
  r = r ? r : buf_reserve(&dst->locked, src->locked.len);
  r = r ? r : buf_reserve(&dst->xattrs, src->xattrs.len);
  if (r) return r;
  for (uint32_t i = 0; i < src->n; i++) put_u32(&dst->offs, ((uint32_t *)src->offs.p)[i] + pbase);
  for (uint32_t i = 0; i < src->nlocked; i++) put_u32(&dst->locked, ((uint32_t *)src->locked.p)[i] + base);
  for (size_t at = 0; at < src->xattrs.len;) {
    uint32_t row, len;
    memcpy(&row, src->xattrs.p + at, 4);
    memcpy(&len, src->xattrs.p + at + 5, 4);
    row += base;
    buf_put(&dst->xattrs, &row, 4);
    buf_put(&dst->xattrs, src->xattrs.p + at + 4, 5 + len);
    at += 9 + len;
  }
  dst->n += src->n;
  dst->nxattrs += src->nxattrs;
  dst->nlocked += src->nlocked;
  dst->nskipped += src->nskipped;
  return 0;
}

/* Per-thread scratch for reading one entry. */
struct scratch { char list[XATTR_MAX_BYTES]; uint8_t value[XATTR_MAX_BYTES]; };

struct failure { int err; int call; char *path; };

static void fail_set(struct failure *f, pthread_mutex_t *mu, int err, int call, const char *rel) {
  if (mu) pthread_mutex_lock(mu);
  if (!f->err) {
    f->call = call;
    f->path = strdup(rel);
    /* Read without the lock by the other threads (to stop early): written atomically. */
    __atomic_store_n(&f->err, err, __ATOMIC_RELEASE);
  }
  if (mu) pthread_mutex_unlock(mu);
}

/*
 * The value of one xattr into s->value, or -errno (-ENODATA: absent). The
 * kernel allocates a buffer of the size asked for (getxattr in fs/xattr.c),
 * so ask small first; on ERANGE grow at least twofold up to the largest
 * value there can be, so a filesystem that misreports the size cannot keep
 * this looping.
 */
static ssize_t read_value(const struct xtarget *t, const char *xname, struct scratch *s) {
  size_t size = 256;
  for (;;) {
    ssize_t v = get_xattr(t, xname, s->value, size);
    if (v != -ERANGE || size == sizeof s->value) return v;
    ssize_t need = get_xattr(t, xname, NULL, 0);
    size_t next = size * 2;
    if (need > 0 && (size_t)need > next) next = (size_t)need;
    size = next < sizeof s->value ? next : sizeof s->value;
  }
}

static int put_value(struct cols *c, uint32_t row, uint8_t slot, const uint8_t *value, uint32_t len) {
  int e = put_u32(&c->xattrs, row);
  e = e ? e : buf_put(&c->xattrs, &slot, 1);
  e = e ? e : put_u32(&c->xattrs, len);
  e = e ? e : buf_put(&c->xattrs, value, len);
  if (!e) c->nxattrs++;
  return e;
}

/*
 * Reads the xattrs that hold ids of one entry (not a symlink) into c as row
 * `row`. A filesystem without xattrs has none to move. Returns 0 or -errno
 * with *call set (-ENOSYS: the *xattrat calls are missing, nothing read).
 */
static int read_id_xattrs(const struct xtarget *t, uint32_t row, struct cols *c, struct scratch *s, int *call) {
  /* Small first, like read_value; the list is at most XATTR_LIST_MAX, beyond that E2BIG. */
  size_t size = 256;
  ssize_t n;
  for (;;) {
    n = list_xattrs(t, s->list, size);
    if (n != -ERANGE || size == sizeof s->list) break;
    ssize_t need = list_xattrs(t, NULL, 0);
    size_t next = size * 2;
    if (need > 0 && (size_t)need > next) next = (size_t)need;
    size = next < sizeof s->list ? next : sizeof s->list;
  }
  if (n == -EOPNOTSUPP) return 0;
  if (n == -E2BIG) {
    /* More than 64 KiB of names (possible on tmpfs, XFS, btrfs): ask for the three by name instead. */
    for (uint8_t slot = 0; slot < 3; slot++) {
      ssize_t v = read_value(t, ID_XATTRS[slot], s);
      if (v == -ENODATA || v == -EOPNOTSUPP) continue;
      if (v < 0) { *call = CALL_GETXATTR; return (int)v; }
      int e = put_value(c, row, slot, s->value, (uint32_t)v);
      if (e) return e;
    }
    return 0;
  }
  if (n < 0) { *call = CALL_LISTXATTR; return (int)n; }
  for (ssize_t at = 0; at < n; at += (ssize_t)strlen(s->list + at) + 1) {
    const char *x = s->list + at;
    for (uint8_t slot = 0; slot < 3; slot++) {
      if (strcmp(x, ID_XATTRS[slot]) != 0) continue;
      ssize_t v = read_value(t, x, s);
      if (v == -ENODATA) break; /* removed between the calls */
      if (v < 0) { *call = CALL_GETXATTR; return (int)v; }
      int e = put_value(c, row, slot, s->value, (uint32_t)v);
      if (e) return e;
      break;
    }
  }
  return 0;
}

/*
 * The scan's xattr reads of `name` in dirfd, whose statx is st: with the
 * *xattrat calls relative to dirfd; without them (Linux < 6.13) through an
 * O_PATH fd of the entry, checked to be the inode st describes, and its
 * /proc/self/fd path (never a path resolved from the root).
 */
static int scan_xattrs(const struct root *r, int dirfd, const char *name, const struct statx *st, uint32_t row, struct cols *c, struct scratch *s, int *call) {
  if (!name[0]) {
    struct xtarget t = {.fd = dirfd, .proc = NULL, .dirfd = -1, .name = NULL};
    return read_id_xattrs(&t, row, c, s, call);
  }
  if (have_xattrat) {
    struct xtarget t = {.fd = -1, .proc = NULL, .dirfd = dirfd, .name = name};
    int rc = read_id_xattrs(&t, row, c, s, call);
    if (rc != -ENOSYS || have_xattrat) return rc;
  }
  int fd = open_entry(r, dirfd, name);
  if (fd < 0) { *call = CALL_OPEN_ENTRY; return fd; }
  struct statx now;
  int rc = check_entry(r, fd, 0, (double)st->stx_ino, dev_of(st), &now);
  if (rc) *call = rc == -EXDEV ? CALL_OPEN_ENTRY : CALL_IDENTITY;
  char proc[32];
  if (!rc && (rc = proc_path(r, fd, proc))) *call = CALL_PROC;
  if (!rc) {
    struct xtarget t = {.fd = -1, .proc = proc, .dirfd = -1, .name = NULL};
    rc = read_id_xattrs(&t, row, c, s, call);
  }
  close(fd);
  return rc;
}

#define NO_PARENT UINT32_MAX

static int put_row(struct cols *c, const struct statx *st, uint32_t name_off, uint32_t parent) {
  int e = put_f64(&c->ino, (double)st->stx_ino);
  e = e ? e : put_f64(&c->dev, (double)st->stx_dev_major * 4294967296.0 + st->stx_dev_minor);
  e = e ? e : put_u32(&c->uid, st->stx_uid);
  e = e ? e : put_u32(&c->gid, st->stx_gid);
  e = e ? e : put_u32(&c->mode, st->stx_mode);
  e = e ? e : put_u32(&c->nlink, st->stx_nlink);
  e = e ? e : put_u32(&c->offs, name_off);
  e = e ? e : put_u32(&c->parents, parent);
  if (e) return e;
  if (st->stx_attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND)) {
    e = put_u32(&c->locked, c->n);
    if (e) return e;
    c->nlocked++;
  }
  c->n++;
  return 0;
}

#define STATX_WANT (STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID | STATX_INO | STATX_MNT_ID)

/* ------------------------------------------------------------------ scan */

/*
 * Directories still to read: the relative path, and an fd of it opened
 * relative to its parent's while that was being read (-1: opened from the
 * root when its turn comes, which walks the whole path; done only past
 * SCAN_HELD_FDS fds held at once, so a wide tree cannot exhaust fds).
 */
struct qitem { char *rel; int fd; uint32_t row; }; /* row: the directory's own (local to a thread's output until merged) */
struct dirq { struct qitem *items; size_t len, cap; };
#define SCAN_HELD_FDS 512

/* Directories already queued, by device and inode: only kept when crossing mounts, where a bind mount could loop. */
struct seen { uint64_t *keys; size_t cap, len; };

static int seen_add(struct seen *s, uint64_t dev, uint64_t ino) {
  if ((s->len + 1) * 2 > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint64_t *k = calloc(cap * 2, sizeof *k);
    if (!k) return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->keys[2 * i] && !s->keys[2 * i + 1]) continue;
      size_t h = (s->keys[2 * i] * 0x9e3779b97f4a7c15ULL ^ s->keys[2 * i + 1]) & (cap - 1);
      while (k[2 * h] || k[2 * h + 1]) h = (h + 1) & (cap - 1);
      k[2 * h] = s->keys[2 * i];
      k[2 * h + 1] = s->keys[2 * i + 1];
    }
    free(s->keys);
    s->keys = k;
    s->cap = cap;
  }
  uint64_t a = dev + 1, b = ino; /* dev + 1: the all-zero pair marks an empty slot */
  size_t h = (a * 0x9e3779b97f4a7c15ULL ^ b) & (s->cap - 1);
  while (s->keys[2 * h] || s->keys[2 * h + 1]) {
    if (s->keys[2 * h] == a && s->keys[2 * h + 1] == b) return 0;
    h = (h + 1) & (s->cap - 1);
  }
  s->keys[2 * h] = a;
  s->keys[2 * h + 1] = b;
  s->len++;
  return 1;
}

struct fst_scan {
  struct root root;
  int threads;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct dirq queue;
  struct seen seen;
  int busy, done, step_dirs;
  int held;             /* fds held by queued items (atomic) */
  double deadline;
  struct cols out;
  struct failure fail;
};

struct scan_thread {
  struct fst_scan *s;
  struct cols local;
  struct buf names;     /* NUL-separated names of the directory being read */
  struct dirq subdirs;
  struct scratch *scratch;
  uint8_t dents[32768];
};

static int dirq_push(struct dirq *q, char *rel, int fd, uint32_t row) {
  if (q->len == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 256;
    struct qitem *p = realloc(q->items, cap * sizeof *p);
    if (!p) return -ENOMEM;
    q->items = p;
    q->cap = cap;
  }
  q->items[q->len++] = (struct qitem){rel, fd, row};
  return 0;
}

static char *join_rel(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *s = malloc(a + b + 2);
  if (!s) return NULL;
  memcpy(s, dir, a);
  size_t at = a;
  if (a) s[at++] = '/';
  memcpy(s + at, name, b + 1);
  return s;
}

struct linux_dirent64 { uint64_t d_ino; int64_t d_off; unsigned short d_reclen; unsigned char d_type; char d_name[]; };

/* Lists, stats and reads one directory into t->local; subdirectories to t->subdirs. */
static int scan_dir(struct scan_thread *t, const char *rel, uint32_t dir_row, int held_fd, int *call, char **where) {
  const struct root *r = &t->s->root;
  int fd = held_fd >= 0 ? held_fd : open_dir(r, rel, 1);
  if (fd < 0) { *call = CALL_OPEN; *where = strdup(rel); return fd; }
  t->names.len = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, t->dents, sizeof t->dents);
    if (n == 0) break;
    if (n < 0) { int e = -errno; close(fd); *call = CALL_GETDENTS; *where = strdup(rel); return e; }
    for (long at = 0; at < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(t->dents + at);
      at += d->d_reclen;
      if (d->d_name[0] == '.' && (d->d_name[1] == 0 || (d->d_name[1] == '.' && d->d_name[2] == 0))) continue;
      int e = buf_put(&t->names, d->d_name, strlen(d->d_name) + 1);
      if (e) { close(fd); return e; }
    }
  }
  int rc = 0;
  for (size_t at = 0; at < t->names.len;) {
    const char *name = (const char *)t->names.p + at;
    size_t name_len = strlen(name);
    at += name_len + 1;
    /* Only the name is kept, with the directory's row: a row costs the same at any depth. */
    uint32_t off = (uint32_t)t->local.paths.len;
    struct statx st;
    if (statx(fd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_WANT, &st) != 0) {
      rc = -errno; *call = CALL_STATX; *where = join_rel(rel, name); break;
    }
    if (is_other_mount(r, &st) && !(r->flags & FST_CROSS)) {
      /* Another filesystem (or a bind mount) below the root: not ours to touch. */
      char *path = join_rel(rel, name);
      if (!path) { rc = -ENOMEM; break; }
      rc = buf_put(&t->local.skipped, path, strlen(path) + 1);
      free(path);
      if (rc) break;
      t->local.nskipped++;
      continue;
    }
    if ((rc = buf_put(&t->local.paths, name, name_len + 1))) break;
    uint32_t row = t->local.n;
    if ((rc = put_row(&t->local, &st, off, dir_row))) break;
    if (S_ISLNK(st.stx_mode)) continue; /* symlinks carry no ACLs or capabilities */
    rc = scan_xattrs(r, fd, name, &st, row, &t->local, t->scratch, call);
    if (rc) { *where = join_rel(rel, name); break; }
    if (S_ISDIR(st.stx_mode)) {
      char *sub = join_rel(rel, name);
      if (!sub) { rc = -ENOMEM; break; }
      /* Crossing mounts, a bind mount of an ancestor would loop: enter each directory once. */
      if (r->flags & FST_CROSS) {
        pthread_mutex_lock(&t->s->mu);
        int fresh = seen_add(&t->s->seen, makedev(st.stx_dev_major, st.stx_dev_minor), st.stx_ino);
        pthread_mutex_unlock(&t->s->mu);
        if (fresh <= 0) { free(sub); if (fresh < 0) { rc = fresh; break; } continue; }
      }
      int sfd = -1;
      if (__atomic_add_fetch(&t->s->held, 1, __ATOMIC_RELAXED) <= SCAN_HELD_FDS) sfd = open_dir_at(r, fd, name, 1);
      /* A failure here is met again, and reported, when the directory is opened from the root. */
      if (sfd < 0) { __atomic_sub_fetch(&t->s->held, 1, __ATOMIC_RELAXED); sfd = -1; }
      if ((rc = dirq_push(&t->subdirs, sub, sfd, row))) { free(sub); if (sfd >= 0) { close(sfd); __atomic_sub_fetch(&t->s->held, 1, __ATOMIC_RELAXED); } break; }
    }
  }
  close(fd);
  return rc;
}

static void *scan_worker(void *arg) {
  struct scan_thread *t = arg;
  struct fst_scan *s = t->s;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    if (s->fail.err || s->done) break;
    if (s->queue.len > 0) {
      /* At least one directory per step, so every step makes progress. */
      if (s->step_dirs > 0 && now_ms() >= s->deadline) break;
      s->step_dirs++;
      struct qitem it = s->queue.items[--s->queue.len];
      char *rel = it.rel;
      if (it.fd >= 0) __atomic_sub_fetch(&s->held, 1, __ATOMIC_RELAXED);
      s->busy++;
      pthread_mutex_unlock(&s->mu);
      cols_reset(&t->local);
      t->subdirs.len = 0;
      int call = 0;
      char *where = NULL;
      int rc = scan_dir(t, rel, it.row, it.fd, &call, &where);
      pthread_mutex_lock(&s->mu);
      s->busy--;
      uint32_t base = s->out.n;
      if (rc == 0) rc = cols_merge(&s->out, &t->local);
      if (rc == 0) {
        size_t i = 0;
        for (; i < t->subdirs.len && rc == 0; i++) rc = dirq_push(&s->queue, t->subdirs.items[i].rel, t->subdirs.items[i].fd, t->subdirs.items[i].row + base);
        if (rc) i--; /* the one that failed is still ours */
        for (size_t j = rc ? i : t->subdirs.len; j < t->subdirs.len; j++) {
          free(t->subdirs.items[j].rel);
          if (t->subdirs.items[j].fd >= 0) { close(t->subdirs.items[j].fd); __atomic_sub_fetch(&s->held, 1, __ATOMIC_RELAXED); }
        }
        t->subdirs.len = 0;
      }
      if (rc) {
        fail_set(&s->fail, NULL, -rc, call, where ? where : rel);
        for (size_t i = 0; i < t->subdirs.len; i++) {
          free(t->subdirs.items[i].rel);
          if (t->subdirs.items[i].fd >= 0) { close(t->subdirs.items[i].fd); __atomic_sub_fetch(&s->held, 1, __ATOMIC_RELAXED); }
        }
        t->subdirs.len = 0;
      }
      free(where);
      free(rel);
      pthread_cond_broadcast(&s->cv);
      continue;
    }
    if (s->busy == 0) { s->done = 1; pthread_cond_broadcast(&s->cv); break; }
    pthread_cond_wait(&s->cv, &s->mu);
  }
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* Starts threads with every signal blocked, so signals keep going to Node's threads. */
static int run_threads(int n, void *(*fn)(void *), void *args, size_t arg_size) {
  pthread_t ids[MAX_THREADS];
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int started = 0, rc = 0;
  for (int i = 1; i < n; i++) {
    if (pthread_create(&ids[i], NULL, fn, (char *)args + (size_t)i * arg_size) != 0) break;
    started = i;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  fn(args); /* the calling thread works too */
  for (int i = 1; i <= started; i++) pthread_join(ids[i], NULL);
  return rc;
}

static int clamp_threads(int n) { return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n; }

struct fst_scan *fst_scan_open(const char *root, uint32_t flags, int threads, int32_t *err) {
  struct fst_scan *s = calloc(1, sizeof *s);
  if (!s) { *err = -ENOMEM; return NULL; }
  int rc = root_open(&s->root, root, flags);
  if (rc) { free(s); *err = rc; return NULL; }
  s->threads = clamp_threads(threads);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  /* Row 0: the root itself. */
  struct statx st;
  struct scratch *sc = malloc(sizeof *sc);
  if (!sc) rc = -ENOMEM;
  else if (statx(s->root.fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_WANT, &st) != 0) rc = -errno;
  else {
    rc = buf_put(&s->out.paths, "", 1);
    if (!rc) rc = put_row(&s->out, &st, 0, NO_PARENT);
    int call = 0;
    if (!rc) rc = scan_xattrs(&s->root, s->root.fd, "", &st, 0, &s->out, sc, &call);
    if (s->root.flags & FST_CROSS && !rc) rc = seen_add(&s->seen, makedev(st.stx_dev_major, st.stx_dev_minor), st.stx_ino) < 0 ? -ENOMEM : 0;
    char *first = strdup("");
    if (!rc && (!first || dirq_push(&s->queue, first, -1, 0))) { free(first); rc = -ENOMEM; }
  }
  free(sc);
  if (rc) { *err = rc; root_close(&s->root); cols_free(&s->out); free(s->queue.items); free(s->seen.keys); free(s); return NULL; }
  *err = 0;
  return s;
}

/*
 * Works for about budget_ms, then returns: 1 more to do, 0 the walk is
 * complete, -errno failed (fst_scan_failure says where). *found: rows so far.
 */
int fst_scan_step(struct fst_scan *s, int budget_ms, uint32_t *found) {
  if (s->fail.err) return -s->fail.err;
  if (!s->done) {
    int n = s->threads;
    struct scan_thread *ts = calloc((size_t)n, sizeof *ts);
    struct scratch *sc = malloc((size_t)n * sizeof *sc);
    if (!ts || !sc) { free(ts); free(sc); return -ENOMEM; }
    for (int i = 0; i < n; i++) { ts[i].s = s; ts[i].scratch = &sc[i]; }
    s->deadline = now_ms() + budget_ms;
    s->step_dirs = 0;
    run_threads(n, scan_worker, ts, sizeof *ts);
    for (int i = 0; i < n; i++) { cols_free(&ts[i].local); buf_free(&ts[i].names); free(ts[i].subdirs.items); }
    free(ts);
    free(sc);
  }
  *found = s->out.n;
  if (s->fail.err) return -s->fail.err;
  return s->done ? 0 : 1;
}

/* errno of the failure (0 if none), its call code, and the relative path (copied into path, NUL-terminated). */
int fst_scan_failure(struct fst_scan *s, int32_t *call, char *path, uint32_t size) {
  if (!s->fail.err) return 0;
  *call = s->fail.call;
  if (size) { strncpy(path, s->fail.path ? s->fail.path : "", size - 1); path[size - 1] = 0; }
  return s->fail.err;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

/*
 * The result as one block, so it crosses to JavaScript in one copy:
 *   u32 n, pathBytes, xattrBytes, xattrCount, lockedCount, skippedBytes, skippedCount, 0
 *   then, each starting on a multiple of 8: f64 ino[n], f64 dev[n], u32 uid[n],
 *   gid[n], mode[n], nlink[n], offsets[n + 1], parents[n], locked[lockedCount],
 *   u8 names[pathBytes], xattrs[xattrBytes], skipped[skippedBytes].
 * An entry is its name (offsets) in the directory of row parents[i]: paths
 * are never stored whole, so the block grows with entries, not with depth.
 * fst_cols_size says how big; fst_cols_take fills it.
 */
static size_t cols_size(const struct cols *c) {
  size_t n = c->n;
  return 32 + 8 * n + 8 * n + align8(4 * n) * 5 + align8(4 * (n + 1)) + align8(4 * c->nlocked) + align8(c->paths.len) + align8(c->xattrs.len) + align8(c->skipped.len);
}

static int cols_take(const struct cols *c, uint8_t *out) {
  if (c->paths.len > UINT32_MAX || c->xattrs.len > UINT32_MAX || c->skipped.len > UINT32_MAX) return -EOVERFLOW; /* cols_merge refuses these first */
  uint32_t head[8] = {c->n, (uint32_t)c->paths.len, (uint32_t)c->xattrs.len, c->nxattrs, c->nlocked, (uint32_t)c->skipped.len, c->nskipped, 0};
  memcpy(out, head, 32);
  size_t at = 32;
#define SECTION(src, len) do { if (len) memcpy(out + at, (src), (len)); memset(out + at + (len), 0, align8(len) - (len)); at += align8(len); } while (0)
  SECTION(c->ino.p, c->ino.len);
  SECTION(c->dev.p, c->dev.len);
  SECTION(c->uid.p, c->uid.len);
  SECTION(c->gid.p, c->gid.len);
  SECTION(c->mode.p, c->mode.len);
  SECTION(c->nlink.p, c->nlink.len);
  uint32_t end = (uint32_t)c->paths.len;
  memcpy(out + at, c->offs.p, c->offs.len);
  memcpy(out + at + c->offs.len, &end, 4);
  size_t olen = c->offs.len + 4;
  memset(out + at + olen, 0, align8(olen) - olen);
  at += align8(olen);
  SECTION(c->parents.p, c->parents.len);
  SECTION(c->locked.p, c->locked.len);
  SECTION(c->paths.p, c->paths.len);
  SECTION(c->xattrs.p, c->xattrs.len);
  SECTION(c->skipped.p, c->skipped.len);
#undef SECTION
  return 0;
}

uint64_t fst_scan_size(struct fst_scan *s) { return cols_size(&s->out); }
int fst_scan_take(struct fst_scan *s, uint8_t *out) { return cols_take(&s->out, out); }

void fst_scan_close(struct fst_scan *s) {
  if (!s) return;
  for (size_t i = 0; i < s->queue.len; i++) {
    free(s->queue.items[i].rel);
    if (s->queue.items[i].fd >= 0) close(s->queue.items[i].fd);
  }
  free(s->queue.items);
  free(s->seen.keys);
  cols_free(&s->out);
  free(s->fail.path);
  root_close(&s->root);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

/* ------------------------------------------------- rows: apply and probe */

/*
 * The entries a job works through are rows of a scan: each a name in the
 * directory of another row (names, offsets and parents as the scan gives
 * them). Threads take blocks of rows; rows come in scan order, grouped by
 * directory, so one directory fd serves many rows.
 */
#define BLOCK 256

struct tree_rows {
  const uint8_t *names;
  const uint32_t *offs;
  const uint32_t *parents;
  uint32_t n;
};

static const char *name_of(const struct tree_rows *t, uint32_t row) { return (const char *)t->names + t->offs[row]; }

/*
 * The last DIRS directories a thread opened, by row. A directory not among
 * them is opened relative to its nearest ancestor that is (or the root),
 * with the names in between as one path of at most HOPS components (an
 * ancestor further up is opened first, the same way): in scan order the
 * parent of a new directory is usually open already, so the kernel walks one
 * component, at any depth. The fds are O_PATH and live for one run of rows.
 */
#define DIRS 64
#define HOPS 32
struct dir_slot { uint32_t row; int fd; uint64_t used; };
struct dircache { struct dir_slot slot[DIRS]; uint64_t clock; int last; };

static void dircache_init(struct dircache *c) {
  for (int i = 0; i < DIRS; i++) c->slot[i] = (struct dir_slot){.row = NO_PARENT, .fd = -1, .used = 0};
  c->clock = 0;
  c->last = 0;
}

static int dircache_find(struct dircache *c, uint32_t row) {
  if (c->slot[c->last].row == row) return c->last;
  for (int i = 0; i < DIRS; i++)
    if (c->slot[i].row == row) { c->last = i; return i; }
  return -1;
}

static void dircache_close(struct dircache *c) {
  for (int i = 0; i < DIRS; i++) {
    if (c->slot[i].fd >= 0) close(c->slot[i].fd);
    c->slot[i].fd = -1;
    c->slot[i].row = NO_PARENT;
  }
}

/* An O_PATH fd of directory `row` (the root's own fd for row 0), owned by the cache; -errno on failure. */
static int dir_fd(const struct root *r, const struct tree_rows *t, struct dircache *c, uint32_t row) {
  if (row == 0) return r->fd;
  if (row >= t->n) return -EINVAL;
  int hit = dircache_find(c, row);
  if (hit >= 0) { c->slot[hit].used = ++c->clock; return c->slot[hit].fd; }
  /* Up from row to an open ancestor (or the root), at most HOPS components. */
  uint32_t chain[HOPS];
  int len = 0;
  size_t bytes = 0;
  uint32_t at = row;
  int base = -1;
  /* Within PATH_MAX whatever the names' lengths: a chain of long names is split. */
  while (len < HOPS && (len == 0 || bytes + strlen(name_of(t, at)) + 1 <= PATH_MAX / 2)) {
    bytes += strlen(name_of(t, at)) + 1;
    chain[len++] = at;
    uint32_t up = t->parents[at];
    if (up >= t->n) return -EINVAL;
    if (up == 0) { base = r->fd; break; }
    int h = dircache_find(c, up);
    if (h >= 0) { c->slot[h].used = ++c->clock; base = c->slot[h].fd; break; }
    at = up;
  }
  if (base < 0) {
    base = dir_fd(r, t, c, t->parents[chain[len - 1]]);
    if (base < 0) return base;
  }
  char rel[PATH_MAX / 2 + NAME_MAX + 2];
  size_t used = 0;
  for (int k = len - 1; k >= 0; k--) {
    const char *name = name_of(t, chain[k]);
    size_t nl = strlen(name);
    if (nl == 0 || nl > NAME_MAX) return -EINVAL;
    memcpy(rel + used, name, nl);
    used += nl;
    rel[used++] = k ? '/' : 0;
  }
  int fd = open_dir_at(r, base, rel, 0);
  if (fd < 0) return fd;
  int victim = 0;
  for (int i = 1; i < DIRS; i++)
    if (c->slot[i].used < c->slot[victim].used) victim = i;
  if (c->slot[victim].fd >= 0) close(c->slot[victim].fd);
  c->slot[victim] = (struct dir_slot){.row = row, .fd = fd, .used = ++c->clock};
  c->last = victim;
  return fd;
}

/* [fd of its directory, name] for row; -errno when the directory cannot be opened. */
static int parent_of(const struct root *r, const struct tree_rows *t, struct dircache *c, uint32_t row, const char **name) {
  if (row == 0) { *name = ""; return r->fd; }
  *name = name_of(t, row);
  if (!(*name)[0]) return -EINVAL;
  return dir_fd(r, t, c, t->parents[row]);
}

struct fst_apply {
  struct root root;
  int threads;
  struct tree_rows tree;
  uint8_t *names;
  uint32_t *offs, *parents, *uid, *gid, *mode;
  double *ino, *dev;     /* the inode each row was planned for (dev NaN: unknown) */
  uint32_t n;
  uint8_t *xattrs;       /* after-values: u32 row, u8 slot, u32 len, bytes */
  uint32_t xattr_bytes;
  int64_t *xfirst;       /* row -> offset of its first record, or -1 */
  /* syncfs in the background while applying, so the final one has little left to write. */
  pthread_t syncer;
  int sync_every_ms, syncer_running, stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
};

static void *syncer_main(void *arg) {
  struct fst_apply *a = arg;
  pthread_mutex_lock(&a->mu);
  while (!a->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += (long)a->sync_every_ms * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&a->cv, &a->mu, &until);
    if (a->stop) break;
    pthread_mutex_unlock(&a->mu);
    syncfs(a->root.fd);
    pthread_mutex_lock(&a->mu);
  }
  pthread_mutex_unlock(&a->mu);
  return NULL;
}

static void *dup_bytes(const void *src, size_t n) {
  void *p = malloc(n ? n : 1);
  if (p && n) memcpy(p, src, n);
  return p;
}

/*
 * Takes a copy of the plan's columns for rows [0, n): names (offsets[n] bytes),
 * offsets[n + 1] and parents[n] as the scan gives them, the inode each row was planned for (ino, dev as the
 * scan gives them), the owner and mode to set, and the xattr values to
 * write. sync_every_ms > 0 starts the background syncfs. NULL on failure
 * with err[0] = -errno and err[1] = the call code.
 */
struct fst_apply *fst_apply_open(const char *root, uint32_t flags, int threads, const uint8_t *names, const uint32_t *offs, const uint32_t *parents, uint32_t n,
                                 const double *ino, const double *dev, const uint32_t *uid, const uint32_t *gid, const uint32_t *mode,
                                 const uint8_t *xattrs, uint32_t xattr_bytes, int sync_every_ms, int32_t *err) {
  err[1] = CALL_OPEN;
  struct fst_apply *a = calloc(1, sizeof *a);
  if (!a) { err[0] = -ENOMEM; return NULL; }
  int rc = root_open(&a->root, root, flags);
  if (rc) { free(a); err[0] = rc; return NULL; }
  a->threads = clamp_threads(threads);
  a->n = n;
  a->names = dup_bytes(names, offs[n]);
  a->offs = dup_bytes(offs, 4 * ((size_t)n + 1));
  a->parents = dup_bytes(parents, 4 * (size_t)n);
  a->tree = (struct tree_rows){.names = a->names, .offs = a->offs, .parents = a->parents, .n = n};
  a->ino = dup_bytes(ino, 8 * (size_t)n);
  a->dev = dup_bytes(dev, 8 * (size_t)n);
  a->uid = dup_bytes(uid, 4 * (size_t)n);
  a->gid = dup_bytes(gid, 4 * (size_t)n);
  a->mode = dup_bytes(mode, 4 * (size_t)n);
  a->xattrs = dup_bytes(xattrs, xattr_bytes);
  a->xattr_bytes = xattr_bytes;
  a->xfirst = malloc(8 * ((size_t)n + 1));
  if (!a->names || !a->offs || !a->parents || !a->ino || !a->dev || !a->uid || !a->gid || !a->mode || !a->xattrs || !a->xfirst) rc = -ENOMEM;
  if (!rc) {
    for (uint32_t i = 0; i < n; i++) a->xfirst[i] = -1;
    for (uint64_t at = 0; at + 9 <= xattr_bytes;) {
      uint32_t row, len;
      memcpy(&row, a->xattrs + at, 4);
      memcpy(&len, a->xattrs + at + 5, 4);
      /* In 64 bits: at + 9 + len must not wrap around to pass the check. */
      if (row >= n || a->xattrs[at + 4] >= 3 || at + 9 + (uint64_t)len > xattr_bytes) { rc = -EINVAL; break; }
      if (a->xfirst[row] < 0) a->xfirst[row] = (int64_t)at;
      at += 9 + (uint64_t)len;
    }
  }
  /* Xattrs are written through /proc/self/fd (the kernel has no xattr call on an O_PATH fd): without /proc, refuse before any change. */
  if (!rc && xattr_bytes > 0 && !a->root.have_proc) { rc = -ENOENT; err[1] = CALL_PROC; }
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  if (!rc && sync_every_ms > 0) {
    a->sync_every_ms = sync_every_ms;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    a->syncer_running = pthread_create(&a->syncer, NULL, syncer_main, a) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  if (rc) {
    err[0] = rc;
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a->names); free(a->offs); free(a->parents); free(a->ino); free(a->dev); free(a->uid); free(a->gid); free(a->mode); free(a->xattrs); free(a->xfirst);
    root_close(&a->root);
    free(a);
    return NULL;
  }
  err[0] = 0;
  return a;
}

struct row_job {
  struct fst_apply *a;
  const uint32_t *rows;
  const uint8_t *todo;
  uint32_t count;
  uint32_t next;          /* next block to take (atomic) */
  pthread_mutex_t mu;
  int failed_index, failed_err, failed_call;
};

struct row_thread { struct row_job *job; };

enum { DO_CHOWN = 1, DO_CHMOD = 2, DO_ACL_ACCESS = 4, DO_ACL_DEFAULT = 8, DO_CAP = 16 };

/*
 * One row: the entry is opened once (O_PATH, no symlink followed, not
 * another mount unless crossing), checked to be the planned inode, and every
 * change is made on that fd, never by name again: a name swapped, replaced
 * or mounted over after planning fails the row (-EXDEV, -ESTALE) before
 * anything of it is changed.
 */
static int apply_entry(struct fst_apply *a, int fd, uint32_t row, uint8_t todo, int *call) {
  struct statx st;
  int rc = check_entry(&a->root, fd, 0, a->ino[row], a->dev[row], &st);
  if (rc) { *call = rc == -EXDEV ? CALL_OPEN_ENTRY : CALL_IDENTITY; return rc; }
  /* chown first: it clears setuid/setgid and removes security.capability, which the next steps put back. */
  if (todo & DO_CHOWN) {
    if (fchownat(fd, "", a->uid[row], a->gid[row], AT_EMPTY_PATH) != 0) { *call = CALL_CHOWN; return -errno; }
  }
  if (S_ISLNK(st.stx_mode)) return 0; /* symlinks have no mode of their own, no ACLs, no capabilities */
  char proc[32];
  int have_path = 0;
  if (todo & DO_CHMOD) {
    mode_t m = a->mode[row] & 07777;
    rc = -1;
    if (have_fchmodat2) {
      rc = (int)syscall(SYS_fchmodat2, fd, "", m, AT_EMPTY_PATH);
      if (rc != 0 && errno == ENOSYS) have_fchmodat2 = 0;
      if (rc != 0) rc = -errno;
    }
    if (!have_fchmodat2) {
      /* fchmod refuses O_PATH fds: chmod its /proc path (a magic link to this inode; never a symlink here). */
      if ((rc = proc_path(&a->root, fd, proc))) { *call = CALL_PROC; return rc; }
      have_path = 1;
      rc = chmod(proc, m) == 0 ? 0 : -errno;
    }
    if (rc) { *call = CALL_CHMOD; return rc; }
  }
  if (todo & (DO_ACL_ACCESS | DO_ACL_DEFAULT | DO_CAP)) {
    if (!have_path && (rc = proc_path(&a->root, fd, proc))) { *call = CALL_PROC; return rc; }
    struct xtarget t = {.fd = -1, .proc = proc, .dirfd = -1, .name = NULL};
    static const uint8_t bit[3] = {DO_ACL_ACCESS, DO_ACL_DEFAULT, DO_CAP};
    for (uint8_t slot = 0; slot < 3; slot++) {
      if (!(todo & bit[slot])) continue;
      int64_t at = a->xfirst[row];
      const uint8_t *value = NULL;
      uint32_t len = 0;
      while (at >= 0 && at + 9 <= (int64_t)a->xattr_bytes) {
        uint32_t r2;
        memcpy(&r2, a->xattrs + at, 4);
        if (r2 != row) break;
        memcpy(&len, a->xattrs + at + 5, 4);
        if (a->xattrs[at + 4] == slot) { value = a->xattrs + at + 9; break; }
        at += 9 + (int64_t)len;
      }
      if (!value) { *call = CALL_SETXATTR; return -EINVAL; } /* the plan has no value for a step it names */
      rc = set_xattr(&t, ID_XATTRS[slot], value, len);
      if (rc) { *call = CALL_SETXATTR; return rc; }
    }
  }
  return 0;
}

/*
 * A row that only moves the owner (most rows): statx of the name, the same
 * inode and mount check, then fchownat of the name with no symlink followed,
 * both relative to the parent's fd opened beneath the root. This is 2 calls
 * where the fd path takes 4 (open, statx, fchownat, close: about 3 us more
 * per row on ext4 here, 1.5x the whole apply). What it gives up is a window
 * of one call: an inode of the same filesystem renamed into this name
 * between the statx and the chown gets the planned owner. Rows that restore
 * a setuid/setgid bit, an ACL or a capability never take this path: granting
 * privilege stays bound to the checked inode.
 */
static int apply_owner_only(struct fst_apply *a, int dfd, const char *name, uint32_t row, int *call) {
  struct statx st;
  if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_TYPE | STATX_INO | STATX_MNT_ID, &st) != 0) { *call = CALL_OPEN_ENTRY; return -errno; }
  int rc = is_planned_entry(&a->root, &st, a->ino[row], a->dev[row]);
  if (rc) { *call = rc == -EXDEV ? CALL_OPEN_ENTRY : CALL_IDENTITY; return rc; }
  if (fchownat(dfd, name, a->uid[row], a->gid[row], AT_SYMLINK_NOFOLLOW) != 0) { *call = CALL_CHOWN; return -errno; }
  return 0;
}

static int apply_row(struct fst_apply *a, struct dircache *dirs, uint32_t row, uint8_t todo, int *call) {
  const char *name;
  int dfd = parent_of(&a->root, &a->tree, dirs, row, &name);
  if (dfd < 0) { *call = CALL_OPEN_PARENT; return dfd; }
  if (todo == DO_CHOWN && name[0]) return apply_owner_only(a, dfd, name, row, call);
  int fd = open_entry(&a->root, dfd, name);
  if (fd < 0) { *call = CALL_OPEN_ENTRY; return fd; }
  int rc = apply_entry(a, fd, row, todo, call);
  close(fd);
  return rc;
}

static void *apply_worker(void *arg) {
  struct row_job *job = ((struct row_thread *)arg)->job;
  struct dircache dirs;
  dircache_init(&dirs);
  for (;;) {
    uint32_t start = __atomic_fetch_add(&job->next, BLOCK, __ATOMIC_RELAXED);
    if (start >= job->count) break;
    uint32_t end = start + BLOCK < job->count ? start + BLOCK : job->count;
    for (uint32_t k = start; k < end; k++) {
      if (__atomic_load_n(&job->failed_err, __ATOMIC_RELAXED)) goto out;
      uint32_t row = job->rows[k];
      if (row >= job->a->n || !job->todo[k]) continue;
      int call = 0;
      int rc = apply_row(job->a, &dirs, row, job->todo[k], &call);
      if (rc) {
        pthread_mutex_lock(&job->mu);
        if (!job->failed_err || (int)k < job->failed_index) {
          job->failed_index = (int)k;
          job->failed_call = call;
          /* Read without the lock by the other threads (to stop early): written atomically. */
          __atomic_store_n(&job->failed_err, -rc, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&job->mu);
        goto out;
      }
    }
  }
out:
  dircache_close(&dirs);
  return NULL;
}

/*
 * Carries out rows[0..count) with the steps todo[k] (the plan's ACTION bits).
 * Returns 0, or -errno with failure = [index into rows, errno, call code].
 * On failure some other rows may be done too: each step is idempotent, so
 * the caller treats the whole call as not done.
 */
int fst_apply_run(struct fst_apply *a, const uint32_t *rows, const uint8_t *todo, uint32_t count, int32_t *failure) {
  struct row_job job = {.a = a, .rows = rows, .todo = todo, .count = count};
  pthread_mutex_init(&job.mu, NULL);
  int n = a->threads;
  if ((uint32_t)n > (count + BLOCK - 1) / BLOCK) n = (int)((count + BLOCK - 1) / BLOCK);
  if (n < 1) n = 1;
  struct row_thread ts[MAX_THREADS];
  for (int i = 0; i < n; i++) ts[i].job = &job;
  run_threads(n, apply_worker, ts, sizeof *ts);
  pthread_mutex_destroy(&job.mu);
  if (!job.failed_err) return 0;
  failure[0] = job.failed_index;
  failure[1] = job.failed_err;
  failure[2] = job.failed_call;
  return -job.failed_err;
}

/* Stops the background syncfs (waiting for one in flight) and frees everything. */
void fst_apply_close(struct fst_apply *a) {
  if (!a) return;
  if (a->syncer_running) {
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->syncer, NULL);
  }
  pthread_mutex_destroy(&a->mu);
  pthread_cond_destroy(&a->cv);
  free(a->names); free(a->offs); free(a->parents); free(a->ino); free(a->dev); free(a->uid); free(a->gid); free(a->mode); free(a->xattrs); free(a->xfirst);
  root_close(&a->root);
  free(a);
}

/* ----------------------------------------------------------------- probe */

struct probe_job {
  struct root *root;
  struct tree_rows tree;
  const uint32_t *rows;
  uint32_t count;
  uint32_t next;
  double *ino, *dev;
  uint32_t *uid, *gid, *mode, *nlink;
  pthread_mutex_t mu;
  struct cols xattrs;     /* xattr records, row = index into rows */
  struct failure fail;    /* path unused: failed_index names the row */
  uint32_t failed_index;
};

struct probe_thread { struct probe_job *job; struct cols local; struct scratch *scratch; };

static void *probe_worker(void *arg) {
  struct probe_thread *t = arg;
  struct probe_job *job = t->job;
  struct dircache dirs;
  dircache_init(&dirs);
  for (;;) {
    uint32_t start = __atomic_fetch_add(&job->next, BLOCK, __ATOMIC_RELAXED);
    if (start >= job->count) break;
    uint32_t end = start + BLOCK < job->count ? start + BLOCK : job->count;
    for (uint32_t k = start; k < end; k++) {
      if (__atomic_load_n(&job->fail.err, __ATOMIC_RELAXED)) goto out;
      uint32_t row = job->rows[k];
      const char *name;
      int call = CALL_OPEN_PARENT;
      int rc = row < job->tree.n ? parent_of(job->root, &job->tree, &dirs, row, &name) : -EINVAL;
      int fd = -1;
      if (rc >= 0) {
        /* Everything of one row is read through one fd of the entry: the inode reported is the one whose xattrs are read. */
        rc = fd = open_entry(job->root, rc, name);
        call = CALL_OPEN_ENTRY;
      }
      struct statx st;
      if (rc >= 0) {
        rc = statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT, STATX_WANT, &st) == 0 ? 0 : -errno;
        call = CALL_STATX;
        if (!rc && !(job->root->flags & FST_CROSS) && is_other_mount(job->root, &st)) { rc = -EXDEV; call = CALL_OPEN_ENTRY; }
      }
      if (rc == 0) {
        job->ino[k] = (double)st.stx_ino;
        job->dev[k] = dev_of(&st);
        job->uid[k] = st.stx_uid;
        job->gid[k] = st.stx_gid;
        job->mode[k] = st.stx_mode;
        job->nlink[k] = st.stx_nlink;
        if (!S_ISLNK(st.stx_mode)) {
          char proc[32];
          if ((rc = proc_path(job->root, fd, proc))) call = CALL_PROC;
          struct xtarget x = {.fd = -1, .proc = proc, .dirfd = -1, .name = NULL};
          if (!rc) rc = read_id_xattrs(&x, k, &t->local, t->scratch, &call);
        }
      }
      if (fd >= 0) close(fd);
      if (rc) {
        pthread_mutex_lock(&job->mu);
        if (!job->fail.err || k < job->failed_index) { job->failed_index = k; job->fail.call = call; __atomic_store_n(&job->fail.err, -rc, __ATOMIC_RELEASE); }
        pthread_mutex_unlock(&job->mu);
        goto out;
      }
    }
  }
out:
  dircache_close(&dirs);
  return NULL;
}

/*
 * Reads the entries rows[k] of a scan's rows (names, offsets, parents) as they
 * are now. The result has the scan's layout (fst_cols_size/fst_cols_take on
 * the returned handle), one row per k, without names. NULL with *err on
 * failure, and the index into rows of the failing one in *failed (-1: none).
 */
struct cols *fst_probe(const char *root, uint32_t flags, int threads, const uint8_t *names, const uint32_t *offs, const uint32_t *parents, uint32_t nrows,
                       const uint32_t *rows, uint32_t count, int32_t *err, int32_t *call, int32_t *failed) {
  struct root r;
  *failed = -1;
  int rc = root_open(&r, root, flags);
  if (rc) { *err = rc; *call = CALL_OPEN; return NULL; }
  /* Xattrs are read through /proc/self/fd (no xattr call takes an O_PATH fd): without /proc, say so before reading anything. */
  if (!r.have_proc) { root_close(&r); *err = -ENOENT; *call = CALL_PROC; return NULL; }
  struct probe_job job = {.root = &r, .tree = {.names = names, .offs = offs, .parents = parents, .n = nrows}, .rows = rows, .count = count};
  pthread_mutex_init(&job.mu, NULL);
  struct cols *out = calloc(1, sizeof *out);
  int n = clamp_threads(threads);
  if ((uint32_t)n > (count + BLOCK - 1) / BLOCK) n = (int)((count + BLOCK - 1) / BLOCK);
  if (n < 1) n = 1;
  struct probe_thread ts[MAX_THREADS];
  struct scratch *sc = malloc((size_t)n * sizeof *sc);
  if (out) {
    rc = buf_reserve(&out->ino, 8 * (size_t)count) || buf_reserve(&out->dev, 8 * (size_t)count) || buf_reserve(&out->uid, 4 * (size_t)count) ||
         buf_reserve(&out->gid, 4 * (size_t)count) || buf_reserve(&out->mode, 4 * (size_t)count) || buf_reserve(&out->nlink, 4 * (size_t)count) ||
         buf_reserve(&out->offs, 4 * (size_t)count) || buf_reserve(&out->parents, 4 * (size_t)count) ? -ENOMEM : 0;
  }
  if (!out || !sc || rc) {
    free(sc);
    if (out) { cols_free(out); free(out); }
    root_close(&r);
    *err = -ENOMEM;
    *call = 0;
    return NULL;
  }
  job.ino = (double *)out->ino.p; job.dev = (double *)out->dev.p;
  job.uid = (uint32_t *)out->uid.p; job.gid = (uint32_t *)out->gid.p; job.mode = (uint32_t *)out->mode.p; job.nlink = (uint32_t *)out->nlink.p;
  memset(ts, 0, sizeof ts);
  for (int i = 0; i < n; i++) { ts[i].job = &job; ts[i].scratch = &sc[i]; }
  run_threads(n, probe_worker, ts, sizeof *ts);
  free(sc);
  out->ino.len = out->dev.len = 8 * (size_t)count;
  out->uid.len = out->gid.len = out->mode.len = out->nlink.len = out->offs.len = out->parents.len = 4 * (size_t)count;
  memset(out->offs.p, 0, out->offs.len);
  memset(out->parents.p, 0, out->parents.len);
  out->n = count;
  for (int i = 0; i < n; i++) {
    /* Rows are already indexes into rows[]: append the records as they are. */
    if (!rc && (uint64_t)out->xattrs.len + ts[i].local.xattrs.len > UINT32_MAX) rc = -EOVERFLOW; /* counted in u32 by cols_take */
    if (!rc) rc = buf_put(&out->xattrs, ts[i].local.xattrs.p, ts[i].local.xattrs.len);
    out->nxattrs += ts[i].local.nxattrs;
    cols_free(&ts[i].local);
  }
  root_close(&r);
  pthread_mutex_destroy(&job.mu);
  if (job.fail.err || rc) {
    *err = job.fail.err ? -job.fail.err : rc;
    *call = job.fail.err ? job.fail.call : 0;
    if (job.fail.err) *failed = (int32_t)job.failed_index;
    cols_free(out);
    free(out);
    return NULL;
  }
  *err = 0;
  return out;
}

uint64_t fst_cols_size(struct cols *c) { return cols_size(c); }
int fst_cols_take(struct cols *c, uint8_t *out) { return cols_take(c, out); }
void fst_cols_free(struct cols *c) { if (c) { cols_free(c); free(c); } }

/* The engine's interface version: the TypeScript side refuses a library it does not know. */
int fst_version(void) { return 3; }

/*
 * Test hook: behave as on a kernel without openat2 (< 5.6, bit 1), the
 * *xattrat calls (< 6.13, bit 2) or fchmodat2 (< 6.6, bit 4), so that the
 * fallbacks run in the tests on this kernel too
 * (FSIDMAP_TREE_ENGINE_COMPAT=old-kernel, or no-openat2,no-xattrat,...).
 */
void fst_compat(uint32_t missing) {
  if (missing & 1) have_openat2 = 0;
  if (missing & 2) have_xattrat = 0;
  if (missing & 4) have_fchmodat2 = 0;
}
