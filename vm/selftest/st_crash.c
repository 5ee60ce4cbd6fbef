// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Harness self-test: crashes (SIGSEGV) after one of three tests. */
#include <signal.h>
#include "tap.h"

int main(void)
{
	tap_plan(3);
	tap_ok(1, "before the crash");
	raise(SIGSEGV);
	tap_ok(1, "never reached");
	tap_done();
}
