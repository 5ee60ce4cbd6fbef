// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Harness self-test: bails out after one of three tests. */
#include "tap.h"

int main(void)
{
	tap_plan(3);
	tap_ok(1, "before bailing out");
	tap_bail("selftest-expected-bail-out");
}
