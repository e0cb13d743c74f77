/*
 * broker-swap DIR A B SECONDS: exchanges the names A and B in DIR with
 * renameat2(RENAME_EXCHANGE) as fast as it can for SECONDS, so a path
 * component flips between two things (a directory and a symlink) while the
 * broker walks it. Prints the number of swaps.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: broker-swap DIR A B SECONDS\n"); return 2; }
  int dir = open(argv[1], O_PATH | O_DIRECTORY);
  if (dir < 0) { perror(argv[1]); return 1; }
  time_t end = time(NULL) + atoi(argv[4]);
  long n = 0;
  while (time(NULL) < end) {
    for (int i = 0; i < 1000; i++) {
      if (syscall(SYS_renameat2, dir, argv[2], dir, argv[3], RENAME_EXCHANGE) < 0) { perror("renameat2"); return 1; }
      n++;
    }
  }
  printf("%ld\n", n);
  return 0;
}
