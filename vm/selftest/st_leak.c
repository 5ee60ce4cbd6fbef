// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Harness self-test: every test passes and the exit status is 0, but
 * the module's instance counter is one higher when the program is gone,
 * as if it had leaked an instance.  The self-test module (ksvc_splat.ko
 * leak=1) lets root write the counter.
 */
#include <stdio.h>

#include "tap.h"

#define INSTANCES "/sys/kernel/debug/ksvc/instances"

int main(void)
{
	unsigned long long n = 0;
	FILE *f = fopen(INSTANCES, "r");
	int ok = f && fscanf(f, "%llu", &n) == 1;

	if (f)
		fclose(f);
	f = ok ? fopen(INSTANCES, "w") : NULL;
	ok = f && fprintf(f, "%llu\n", n + 1) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	tap_plan(1);
	tap_ok(ok, "raised %s from %llu to %llu", INSTANCES, n, n + 1);
	return 0;
}
