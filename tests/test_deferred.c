// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * deferred: the agent reads a deferred label as bpf_probe_read_user_str()
 * reads one (31 bytes and a NUL, the rest zero, cut and flagged when
 * longer), reads a string that ends just before an unreadable page, fails
 * on one that runs into it, and refuses a pid whose process is not the one
 * of the event. The reads are of this process's own memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/deferred.h"

static char *pages;	/* a readable page, then one that is not */
static long psz;

static int setup(void **state)
{
	(void)state;
	psz = sysconf(_SC_PAGESIZE);
	pages = mmap(NULL, 2 * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED)
		return -1;
	return mprotect(pages + psz, psz, PROT_NONE);
}

static int teardown(void **state)
{
	(void)state;
	return munmap(pages, 2 * psz);
}

/* Read the @len bytes of @s placed just before the unreadable page. */
static int read_at_end(const char *s, size_t len, char *out, bool *cut)
{
	char *p = pages + psz - len;

	memset(pages, 'x', psz);
	memcpy(p, s, len);
	return deferred__read_label(getpid(), (uintptr_t)p, out, cut);
}

static void test_as_the_kernel_cuts(void **state)
{
	char out[EMITD_LABEL_LEN], want[EMITD_LABEL_LEN] = {};
	const char *s31 = "0123456789012345678901234567890";
	const char *s32 = "01234567890123456789012345678901";
	bool cut = true;

	(void)state;
	memset(pages, 'x', psz);
	strcpy(pages + 100, "abc");
	memset(out, 0x55, sizeof(out));
	assert_int_equal(deferred__read_label(getpid(), (uintptr_t)(pages + 100), out, &cut), 0);
	strcpy(want, "abc");
	assert_memory_equal(out, want, sizeof(out));	/* the rest zero, as the kernel's key */
	assert_false(cut);

	strcpy(pages + 200, s31);
	assert_int_equal(deferred__read_label(getpid(), (uintptr_t)(pages + 200), out, &cut), 0);
	assert_string_equal(out, s31);
	assert_false(cut);

	strcpy(pages + 300, s32);
	assert_int_equal(deferred__read_label(getpid(), (uintptr_t)(pages + 300), out, &cut), 0);
	assert_int_equal(strlen(out), EMITD_LABEL_LEN - 1);
	assert_memory_equal(out, s32, EMITD_LABEL_LEN - 1);
	assert_true(cut);

	strcpy(pages + 400, "");
	assert_int_equal(deferred__read_label(getpid(), (uintptr_t)(pages + 400), out, &cut), 0);
	assert_string_equal(out, "");
}

static void test_at_an_unreadable_page(void **state)
{
	char out[EMITD_LABEL_LEN];
	bool cut = true;

	(void)state;
	/* the 32-byte read runs past the page: what is before it is enough */
	assert_int_equal(read_at_end("end", 4, out, &cut), 0);
	assert_string_equal(out, "end");
	assert_false(cut);
	/* 32 bytes without NUL, all readable: cut */
	assert_int_equal(read_at_end("abcdefghijklmnopqrstuvwxyzABCDEF", 32, out, &cut), 0);
	assert_memory_equal(out, "abcdefghijklmnopqrstuvwxyzABCDE", EMITD_LABEL_LEN);
	assert_true(cut);
	/* no NUL before the unreadable page: the kernel's read fails there too */
	assert_int_equal(read_at_end("abcde", 5, out, &cut), -EFAULT);
	assert_int_equal(deferred__read_label(getpid(), (uintptr_t)(pages + psz), out, &cut),
			 -EFAULT);
}

static void test_a_process_that_is_gone(void **state)
{
	char out[EMITD_LABEL_LEN];
	bool cut;
	pid_t pid = fork();

	(void)state;
	if (!pid)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(deferred__read_label(pid, (uintptr_t)pages, out, &cut), -ESRCH);
}

static void test_start_time_of_a_stat_line(void **state)
{
	unsigned long long ticks = 0;
	char line[512];

	(void)state;
	/* a name may hold spaces and parentheses: fields count from the last ')' */
	snprintf(line, sizeof(line), "42 (a) b (c)) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 "
		 "20 21 %llu 23 24\n", 987654321ULL);
	assert_int_equal(deferred__parse_start(line, &ticks), 0);
	assert_int_equal(ticks, 987654321ULL);
	assert_int_equal(deferred__parse_start("42 (x) S 1 2", &ticks), -EINVAL);
	assert_int_equal(deferred__parse_start("no name", &ticks), -EINVAL);
}

/* This process's start, as the kernel records it (whole ticks of 10 ms at USER_HZ 100). */
static unsigned long long own_start_ns(void)
{
	unsigned long long ticks = 0;
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(deferred__parse_start(buf, &ticks), 0);
	return ticks * (1000000000ULL / sysconf(_SC_CLK_TCK));
}

static void test_the_pid_must_be_the_event_process(void **state)
{
	struct emitd_deferred d = {};
	static const char *const label = "from a deferred event";

	(void)state;
	d.tgid = getpid();
	d.start_ns = own_start_ns() + 1234;	/* within its tick */
	d.addr[1] = (uintptr_t)label;
	d.key.labels[0].num = 7;
	assert_int_equal(deferred__read(&d), 0);
	assert_int_equal(d.result, EMITD_REPLAY_READ);
	assert_string_equal(d.key.labels[1].str, label);
	assert_int_equal(d.key.labels[0].num, 7);	/* what the kernel read stays */
	assert_int_equal(d.truncated, 0);

	d.start_ns += 1000000000ULL;		/* another process with the same pid */
	assert_int_equal(deferred__read(&d), -ESRCH);
	assert_int_equal(d.result, EMITD_REPLAY_READ_FAILED);

	memset(&d, 0, sizeof(d));
	d.tgid = getpid();
	d.start_ns = own_start_ns();
	d.addr[0] = (uintptr_t)"0123456789012345678901234567890123456789";
	assert_int_equal(deferred__read(&d), 0);
	assert_int_equal(d.truncated, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_as_the_kernel_cuts),
		cmocka_unit_test(test_at_an_unreadable_page),
		cmocka_unit_test(test_a_process_that_is_gone),
		cmocka_unit_test(test_start_time_of_a_stat_line),
		cmocka_unit_test(test_the_pid_must_be_the_event_process),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
