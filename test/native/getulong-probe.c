/*
 * getulong-probe: shadow-utils' getulong (lib/getulong.c, 4.13) on glibc's
 * real strtoul, for the differential test of src/policy/shadow-number.ts.
 * stdin: strings separated by NUL bytes. stdout: one line per string,
 * "ok VALUE" or "fail".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int getulong(const char *numstr, unsigned long *result)
{
	unsigned long val;
	char *endptr;

	errno = 0;
	val = strtoul(numstr, &endptr, 0);
	if (('\0' == *numstr) || ('\0' != *endptr) || (ERANGE == errno))
		return 0;
	*result = val;
	return 1;
}

int main(void)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;

	while ((len = getdelim(&buf, &cap, '\0', stdin)) > 0) {
		unsigned long v;
		if (buf[len - 1] != '\0') {
			/* last record without a terminator: make it a string */
			char *nb = realloc(buf, (size_t)len + 1);
			if (!nb)
				return 2;
			buf = nb;
			buf[len] = '\0';
		}
		if (getulong(buf, &v))
			printf("ok %lu\n", v);
		else
			printf("fail\n");
	}
	free(buf);
	return 0;
}
