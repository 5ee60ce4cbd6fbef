#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# test/install.sh - `make install` and `make uninstall`, checked from the
# outside: install libksvc into a staging tree, build a program against
# that tree alone (pkg-config, the installed headers and library), run
# it, run the installed ksvc-run, check the man pages, uninstall.
# Prints TAP.  Needs: make, cc, pkg-config, liburing-dev, man-db.
#
# Usage: sh test/install.sh   (from anywhere; builds into a temporary
# directory, so it does not touch the tree's own build outputs)
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=install
. "$ROOT/test/tap-sh.inc"

STAGE=$tmp/stage
PREFIX=/usr
MK="make -s -C $ROOT O=$tmp/build SAN= PREFIX=$PREFIX"

# -- install into the staging tree ---------------------------------------
check "make install DESTDIR=<stage> PREFIX=$PREFIX" \
	$MK -j"$(nproc 2>/dev/null || echo 2)" install DESTDIR="$STAGE"

missing=
for f in include/ksvc.h include/ksvc_dispatch.h include/ksvc_uapi.h \
	 lib/libksvc.a lib/pkgconfig/ksvc.pc lib/ksvc/libksvc-preload.so \
	 bin/ksvc-run share/man/man7/ksvc.7 share/man/man4/ksvc.4 \
	 share/man/man1/ksvc-run.1 \
	 share/man/man3/ksvc_open.3 share/man/man3/ksvc_close.3; do
	[ -f "$STAGE$PREFIX/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
	ok "headers, library, ksvc.pc, shim, ksvc-run and man pages installed"
else
	not_ok "headers, library, ksvc.pc, shim, ksvc-run and man pages installed"
	echo "# missing:$missing"
fi

if [ -x "$STAGE$PREFIX/bin/ksvc-run" ] &&
   grep -qx "installed_lib=$PREFIX/lib/ksvc/libksvc-preload.so" \
	"$STAGE$PREFIX/bin/ksvc-run"; then
	ok "the installed ksvc-run is executable and names the installed shim"
else
	not_ok "the installed ksvc-run is executable and names the installed shim"
fi

# -- a program built against the staging tree only ------------------------
cat >"$tmp/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <ksvc.h>

int main(void)
{
	struct ksvc_open_params op = { .flags = KSVC_OPEN_ANON_FALLBACK };
	struct ksvc_completion c;
	struct ksvc_dispatcher *d;
	struct ksvc_entry e;
	struct utsname u1, u2;
	struct ksvc *k;
	char buf[8] = "";
	int p[2], err;

	if (ksvc_getpid() != getpid() || ksvc_getppid() != getppid() ||
	    ksvc_uname(&u1) || uname(&u2) || strcmp(u1.release, u2.release))
		return 10;
	err = ksvc_open(&k, &op);
	if (err < 0) {
		fprintf(stderr, "ksvc_open: %s\n", ksvc_strerror(err));
		return 11;
	}
	if (pipe(p) || ksvc_dispatch_create(&d, k, NULL))
		return 12;
	ksvc_prep_call(&e, 7, SYS_write, (__u64)p[1], (__u64)(uintptr_t)"hi",
		       2, 0, 0, 0);
	if (ksvc_dispatch_submit(d, &e, 1, KSVC_SUBMIT_WAIT) != 1 ||
	    ksvc_dispatch_wait(d, &c, 1, 1, 10000) != 1 ||
	    c.corr_id != 7 || c.result != 2 || read(p[0], buf, 2) != 2 ||
	    strcmp(buf, "hi"))
		return 13;
	printf("installed libksvc works (%s mode)\n",
	       ksvc_mode_name(ksvc_dispatch_mode(d)));
	ksvc_dispatch_destroy(d);
	ksvc_close(k);
	return 0;
}
EOF
export PKG_CONFIG_PATH="$STAGE$PREFIX/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$STAGE"
if flags=$(pkg-config --cflags --libs ksvc 2>"$tmp/log") &&
   [ "$(pkg-config --modversion ksvc)" = \
     "$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$ROOT/dkms.conf")" ]; then
	ok "pkg-config knows ksvc, with the package version ($flags)"
else
	not_ok "pkg-config knows ksvc, with the package version" "$tmp/log"
fi
# shellcheck disable=SC2086
check "a C11 program builds with the installed headers and libksvc.a alone" \
	cc -std=c11 -Wall -Wextra -Werror -o "$tmp/prog" "$tmp/prog.c" \
	$(pkg-config --cflags --libs ksvc)
check "... and runs: Tier 0 accessors and a dispatcher round trip" "$tmp/prog"

# The README's complete example, as a reader copies it, built the way
# the README says (its flags, with the installed tree for -I and the
# library) and run: anonymous rings where there is no module.
awk '/^### A complete example/ { f = 1 }
     f && /^```c$/ { p = 1; next }
     p && /^```$/ { exit }
     p' "$ROOT/README.md" >"$tmp/readme.c"
# shellcheck disable=SC2046
if [ "$(wc -l <"$tmp/readme.c")" -gt 20 ] &&
   cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$tmp/readme" \
	"$tmp/readme.c" $(pkg-config --cflags --libs ksvc) >"$tmp/log" 2>&1 &&
   "$tmp/readme" >"$tmp/readme.out" 2>>"$tmp/log" &&
   grep -q '^entry 1: result [1-9]' "$tmp/readme.out" &&
   grep -q '^entry 2: result 0' "$tmp/readme.out"; then
	ok "the README's complete example builds warning-free and runs"
else
	cat "$tmp/readme.out" >>"$tmp/log" 2>/dev/null
	not_ok "the README's complete example builds warning-free and runs" \
		"$tmp/log"
fi

# Each man page's EXAMPLES compile against the installed headers, inside
# a function that declares what the examples take as given (d, fd, buf,
# len, st and the program's own functions); "..." lines stand for the
# rest of a program.  And each SYNOPSIS prototype, declared again after
# the headers, agrees with them (a conflicting type does not compile).
cat >"$tmp/ex-pre.h" <<'EOF'
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <ksvc.h>
void redo_on_this_thread(__u64 corr_id);
void finish(__u64 corr_id, __s64 result);
EOF
ex_bad=
syn_bad=
nex=0
for p in "$ROOT"/man/man3/*.3; do
	b=$(basename "$p" .3)
	# The roff source of the EXAMPLES' .nf/.fi block, unescaped.
	sed -n '/^\.SH EXAMPLE/,/^\.SH /p' "$p" |
		sed -n '/^\.nf/,/^\.fi/{/^\.nf/d;/^\.fi/d;p;}' |
		sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\&//g' \
		    -e '/^\.\.\.$/d' >"$tmp/ex.body"
	if [ -s "$tmp/ex.body" ]; then
		nex=$((nex + 1))
		{
			echo '#include "ex-pre.h"'
			echo 'int example(struct ksvc_dispatcher *d, int fd);'
			echo 'int example(struct ksvc_dispatcher *d, int fd)'
			echo '{'
			echo '	char buf[64]; size_t len = sizeof(buf);'
			echo '	struct stat st;'
			echo '	(void)d; (void)fd; (void)buf; (void)len; (void)st;'
			echo '	{'
			cat "$tmp/ex.body"
			echo '	}'
			echo '	return 0;'
			echo '}'
		} >"$tmp/ex-$b.c"
		# shellcheck disable=SC2046
		cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -c \
			-o "$tmp/ex-$b.o" "$tmp/ex-$b.c" \
			$(pkg-config --cflags ksvc) >>"$tmp/ex.log" 2>&1 ||
			ex_bad="$ex_bad $b"
	fi
	# The SYNOPSIS: prototypes only (no struct definitions, comments
	# or #include lines), fonts and escapes removed.
	sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$p" |
		sed -e '/^\.SH/d' -e '/^\.\(nf\|fi\|PP\|B #include\)/d' \
		    -e 's/^\.BI\? //' -e 's/"//g' -e 's/\\-/-/g' \
		    -e 's/\\&//g' >"$tmp/syn.raw"
	awk '/^[a-z_0-9 ]*struct [a-z_0-9]* {/ { skip = 1 }
	     skip { if (/^};/) skip = 0; next }
	     /^\/\*.*\*\/$/ { next }
	     { print }' "$tmp/syn.raw" >"$tmp/syn.body"
	{
		echo '#include <ksvc.h>'
		cat "$tmp/syn.body"
	} >"$tmp/syn-$b.c"
	if ! grep -q '(' "$tmp/syn.body" ||
	   ! cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only \
		-I"$STAGE$PREFIX/include" "$tmp/syn-$b.c" >>"$tmp/syn.log" 2>&1
	then
		syn_bad="$syn_bad $b"
	fi
done
if [ "$nex" -ge 6 ] && [ -z "$ex_bad" ]; then
	ok "the EXAMPLES of each of $nex man pages compile warning-free"
else
	not_ok "the EXAMPLES of each man page compile warning-free" \
		"$tmp/ex.log"
	echo "# failed:$ex_bad"
fi
if [ -z "$syn_bad" ]; then
	ok "each section 3 SYNOPSIS agrees with the installed headers"
else
	not_ok "each section 3 SYNOPSIS agrees with the installed headers" \
		"$tmp/syn.log"
	echo "# failed:$syn_bad"
fi
# The library shares the program's namespace: every global name it
# defines is ksvc_ (public) or ksvc__ (internal), so none can clash.
lib_a=$STAGE$PREFIX/lib/libksvc.a
if nm -g --defined-only "$lib_a" >"$tmp/nm" 2>&1 &&
   awk 'NF == 3 { n++ } END { exit !(n > 20) }' "$tmp/nm" &&
   ! awk 'NF == 3 && $3 !~ /^ksvc_/ { print; bad = 1 } END { exit !bad }' \
	"$tmp/nm" >"$tmp/log"; then
	ok "every global symbol libksvc.a defines starts with ksvc_"
else
	not_ok "every global symbol libksvc.a defines starts with ksvc_" "$tmp/log"
fi

# -- ksvc-run --------------------------------------------------------------
# From the staging tree the shim is found next to the script; the path
# written in at install time is tried first, so an install without
# DESTDIR is found from wherever ksvc-run is copied.
check "the staged ksvc-run preloads the staged shim" sh -c \
	"'$STAGE$PREFIX/bin/ksvc-run' sh -c 'echo \"\$LD_PRELOAD\"' |
	 grep -qx '$STAGE$PREFIX/lib/ksvc/libksvc-preload.so'"
check "make install PREFIX=<dir> (no DESTDIR)" \
	make -s -C "$ROOT" O="$tmp/build" SAN= PREFIX="$tmp/final" install
mkdir -p "$tmp/elsewhere"
cp "$tmp/final/bin/ksvc-run" "$tmp/elsewhere/ksvc-run"
check "a copy of that ksvc-run elsewhere still finds the installed shim" \
	sh -c "'$tmp/elsewhere/ksvc-run' sh -c 'echo \"\$LD_PRELOAD\"' |
	 grep -qx '$tmp/final/lib/ksvc/libksvc-preload.so'"
check "a program run by it gets the same answers" sh -c \
	"[ \"\$('$tmp/final/bin/ksvc-run' id -u)\" = \"\$(id -u)\" ]"

# -- man pages ---------------------------------------------------------------
MANDIR=$STAGE$PREFIX/share/man
bad=
for p in "$MANDIR"/man*/*; do
	w=$(cd "$MANDIR" && MANWIDTH=80 man --warnings -l "${p#"$MANDIR"/}" \
		2>&1 >/dev/null)
	out=$(cd "$MANDIR" && MANWIDTH=80 man -l "${p#"$MANDIR"/}" 2>/dev/null |
		wc -l)
	if [ -n "$w" ] || [ "$out" -lt 5 ]; then
		bad="$bad ${p#"$MANDIR"/}"
		printf '%s\n' "$w" | sed 's/^/# /'
	fi
done
if [ -z "$bad" ]; then
	ok "every installed man page renders without a warning"
else
	not_ok "every installed man page renders without a warning"
	echo "# failed:$bad"
fi

# An identifier split over two lines ("KSVC_MAX_EN-" / "TRIES") cannot
# be searched for or copied: the pages turn hyphenation off (.nh), so no
# line ends in a hyphen at any width.
split=
for p in "$MANDIR"/man*/*; do
	for w in 60 80 100; do
		n=$(cd "$MANDIR" && MANWIDTH=$w man -l "${p#"$MANDIR"/}" \
			2>/dev/null | grep -c "$(printf '\342\200\220')\$")
		[ "$n" = 0 ] || split="$split ${p#"$MANDIR"/}@$w:$n"
	done
done
if [ -z "$split" ]; then
	ok "no man page breaks a word at a line's end, at 60, 80 or 100 columns"
else
	not_ok "no man page breaks a word at a line's end, at 60, 80 or 100 columns"
	echo "# page@width:lines$split"
fi

# Every function the installed headers declare or define, except the
# library's internal ksvc__ ones, has a page (as gcc sees the headers);
# ring_pages() is ksvc_ring_pages() under its short name.
printf '#include <ksvc.h>\n' >"$tmp/aux.c"
undocumented=
if cc -std=c11 -I"$STAGE$PREFIX/include" -aux-info "$tmp/aux.out" \
      -fsyntax-only "$tmp/aux.c" 2>"$tmp/log"; then
	funcs=$(grep -F "$STAGE$PREFIX/include/" "$tmp/aux.out" |
		grep -oE '\b(ksvc_[a-z0-9_]+|ring_pages) \(' | tr -d ' (' |
		grep -v '^ksvc__' | sort -u)
	for f in $funcs; do
		[ -f "$MANDIR/man3/$f.3" ] || undocumented="$undocumented $f"
	done
	nf=$(echo "$funcs" | wc -w)
else
	nf=0
fi
if [ "$nf" -gt 40 ] && [ -z "$undocumented" ]; then
	ok "each of the $nf public functions has a man page"
else
	not_ok "each public function has a man page ($nf found)" "$tmp/log"
	echo "# without a page:$undocumented"
fi

# -- make clean O=<dir> -------------------------------------------------------
# Removes what the build made below <dir> (and the module in the tree),
# nothing else: not another build's library or objects, not the guest's
# module.  Checked in a copy of the tree, with a kernel build tree when
# there is one (kbuild's own clean would delete them all).
KDIR_CLEAN=
[ -r "$ROOT/build/kernel.env" ] &&
	KDIR_CLEAN=$(sed -n 's/^KDIR_VM=//p' "$ROOT/build/kernel.env")
mkdir -p "$tmp/tree"
# Files where each build puts them (no need to build: clean removes by
# name), and an object of another build, as kbuild's clean would find.
if (cd "$ROOT" && git ls-files -z | xargs -0 tar cf -) 2>"$tmp/log" |
	tar xf - -C "$tmp/tree" 2>>"$tmp/log" &&
   mkdir -p "$tmp/tree/build/obj/lib" "$tmp/tree/build/other/lib" \
	"$tmp/tree/build/other/build/obj/lib" "$tmp/tree/build/kmod/ksvc" &&
   : >"$tmp/tree/lib/libksvc.a" && : >"$tmp/tree/build/obj/lib/setup.o" &&
   : >"$tmp/tree/build/other/lib/libksvc.a" &&
   : >"$tmp/tree/build/other/build/obj/lib/setup.o" &&
   : >"$tmp/tree/build/kmod/ksvc/ksvc.ko" &&
   make -s -C "$tmp/tree" SAN= O=build/other \
	${KDIR_CLEAN:+KDIR="$KDIR_CLEAN"} clean >>"$tmp/log" 2>&1 &&
   [ ! -e "$tmp/tree/build/other/lib/libksvc.a" ] &&
   [ ! -e "$tmp/tree/build/other/build" ] &&
   [ -f "$tmp/tree/lib/libksvc.a" ] &&
   [ -f "$tmp/tree/build/obj/lib/setup.o" ] &&
   [ -f "$tmp/tree/build/kmod/ksvc/ksvc.ko" ]; then
	ok "make clean O=<dir> removes that build and leaves the others"
else
	not_ok "make clean O=<dir> removes that build and leaves the others" \
		"$tmp/log"
fi

# -- uninstall ---------------------------------------------------------------
check "make uninstall DESTDIR=<stage>" $MK uninstall DESTDIR="$STAGE"
left=$(find "$STAGE" ! -type d | sed "s|^$STAGE||")
if [ -z "$left" ]; then
	ok "make uninstall leaves no file behind"
else
	not_ok "make uninstall leaves no file behind"
	printf '%s\n' "$left" | sed 's/^/# left: /'
fi

tap_end
