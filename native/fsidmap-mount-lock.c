/*
 * fsidmap-mount-lock: makes the flags of a detached mount permanent before
 * the broker hands it to an unprivileged peer.
 *
 *   fsidmap-mount-lock      (fd 3: a detached mount, fd 4: a Unix socket)
 *
 * A detached mount made by root (open_tree + mount_setattr) has nodev,
 * nosuid or rdonly set, but not locked: the peer could attach it in a mount
 * namespace of its own user namespace and clear them with mount_setattr.
 * The kernel locks a mount's flags (MNT_LOCK_NODEV, MNT_LOCK_NOSUID,
 * MNT_LOCK_READONLY, MNT_LOCK_NOEXEC, MNT_LOCK_ATIME) when it copies a
 * mount namespace into a less privileged user namespace (copy_mnt_ns →
 * lock_mnt_tree), and clones keep those locks (clone_mnt copies mnt_flags).
 * So this program, run by the broker as root:
 *   1. unshares a private mount namespace and attaches the mount (fd 3) on
 *      a scratch tmpfs there;
 *   2. unshares a new user namespace and mount namespace: the copy of the
 *      mount in it is locked;
 *   3. clones that copy with open_tree(OPEN_TREE_CLONE), and sends the new
 *      detached mount over fd 4 (SCM_RIGHTS) with the line "ok";
 * then exits, which takes both namespaces of steps 1 and 2 with it. On
 * failure it sends "error STEP ERRNO" instead. Single-threaded C because
 * unshare(CLONE_NEWNS | CLONE_NEWUSER) refuses multi-threaded callers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#endif

#define MOUNT_FD 3
#define SOCK_FD 4
#define SCRATCH "/tmp"
#define TARGET "/tmp/m"

static void reply(const char *line, int fd) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { .iov_base = (void *)line, .iov_len = strlen(line) };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (fd >= 0) {
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  while (sendmsg(SOCK_FD, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) { }
}

static int fail(const char *step) {
  char line[96];
  snprintf(line, sizeof line, "error %s %d\n", step, errno);
  reply(line, -1);
  return 1;
}

int main(void) {
  /* Dies with the broker: nothing of this outlives it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return fail("pdeathsig");
  struct stat st;
  if (fstat(MOUNT_FD, &st) < 0 || fstat(SOCK_FD, &st) < 0) return fail("fds");
  if (unshare(CLONE_NEWNS) < 0) return fail("unshare-mnt");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return fail("make-private");
  if (mount("fsidmap-lock", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16k") < 0) return fail("mount-scratch");
  if (mkdir(TARGET, 0755) < 0) return fail("mkdir-scratch");
  if (syscall(SYS_move_mount, MOUNT_FD, "", AT_FDCWD, TARGET, MOVE_MOUNT_F_EMPTY_PATH) < 0) return fail("attach");
  close(MOUNT_FD);
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return fail("unshare-user");
  int locked = (int)syscall(SYS_open_tree, AT_FDCWD, TARGET, OPEN_TREE_CLONE | O_CLOEXEC);
  if (locked < 0) return fail("clone");
  reply("ok\n", locked);
  return 0;
}
