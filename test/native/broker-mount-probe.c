/*
 * broker-mount-probe: run as an unprivileged user with a detached mount
 * from the broker on fd 3. Makes its own user namespace (mapping only its
 * own uid and gid, as any user may) and mount namespace, attaches the mount
 * there, and tries what a hostile peer would: clearing nodev, nosuid and
 * rdonly, on the mount and on a clone of it. Prints one JSON object:
 *   {"attach":0,"clear_nodev":ERRNO,"clear_nosuid":ERRNO,"clear_rdonly":ERRNO,
 *    "clone_clear_nodev":ERRNO,"flags":"..."}
 * where 0 means the call succeeded (the flag was NOT locked).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>

static void put(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, text, strlen(text)) < 0) { printf("{\"error\":\"write %s: %d\"}\n", path, errno); exit(1); }
  close(fd);
}

static int clear_attr(int fd, unsigned long long attr) {
  struct mount_attr a;
  memset(&a, 0, sizeof a);
  a.attr_clr = attr;
  return syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof a) < 0 ? errno : 0;
}

int main(void) {
  uid_t uid = getuid();
  gid_t gid = getgid();
  char text[64];
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) { printf("{\"error\":\"unshare: %d\"}\n", errno); return 1; }
  put("/proc/self/setgroups", "deny");
  snprintf(text, sizeof text, "0 %u 1\n", (unsigned)uid);
  put("/proc/self/uid_map", text);
  snprintf(text, sizeof text, "0 %u 1\n", (unsigned)gid);
  put("/proc/self/gid_map", text);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) { printf("{\"error\":\"private: %d\"}\n", errno); return 1; }
  if (mount("probe", "/tmp", "tmpfs", 0, "mode=0755") < 0) { printf("{\"error\":\"tmpfs: %d\"}\n", errno); return 1; }
  mkdir("/tmp/t", 0755);
  int attach = syscall(SYS_move_mount, 3, "", AT_FDCWD, "/tmp/t", MOVE_MOUNT_F_EMPTY_PATH) < 0 ? errno : 0;
  int fd = open("/tmp/t", O_PATH | O_DIRECTORY);
  struct statvfs sv;
  char flags[64] = "";
  if (fd >= 0 && fstatvfs(fd, &sv) == 0) {
    snprintf(flags, sizeof flags, "%s%s%s", (sv.f_flag & ST_NODEV) ? "nodev," : "", (sv.f_flag & ST_NOSUID) ? "nosuid," : "", (sv.f_flag & ST_RDONLY) ? "ro," : "");
  }
  int nodev = clear_attr(fd, MOUNT_ATTR_NODEV);
  int nosuid = clear_attr(fd, MOUNT_ATTR_NOSUID);
  int rdonly = clear_attr(fd, MOUNT_ATTR_RDONLY);
  int clone = syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH);
  int clone_nodev = clone < 0 ? -errno : clear_attr(clone, MOUNT_ATTR_NODEV);
  printf("{\"attach\":%d,\"clear_nodev\":%d,\"clear_nosuid\":%d,\"clear_rdonly\":%d,\"clone_clear_nodev\":%d,\"flags\":\"%s\"}\n", attach, nodev, nosuid, rdonly, clone_nodev, flags);
  return 0;
}
