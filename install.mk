# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# make install / make uninstall: libksvc for programs built outside this
# tree.  The module is installed separately (insmod, or make dkms-install).
#
#   $(INCLUDEDIR)       ksvc.h, ksvc_dispatch.h, ksvc_uapi.h
#   $(LIBDIR)           libksvc.a (static only: the Tier 0 accessors are
#                       inline and call hidden functions of the library)
#   $(PKGCONFIGDIR)     ksvc.pc: cc prog.c $(pkg-config --cflags --libs ksvc)
#   $(LIBDIR)/ksvc      libksvc-preload.so
#   $(BINDIR)           ksvc-run (told where the shim is installed)
#   $(MANDIR)/man{1,3,4,7} the man pages, and one page per function name
#                       that includes the page describing it (man/links)
#
# DESTDIR is prepended to every path (packaging, or a test staging tree);
# the paths written into ksvc.pc and ksvc-run are the final ones, without
# it.  The library installed is the one built with the same O= and SAN=.

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
DESTDIR		?=
INSTALL		?= install

INSTALL_HDRS	:= $(wildcard include/*.h)
MAN_PAGES	:= $(wildcard man/man[0-9]/*.[0-9])
PRELOAD_DIR	:= $(LIBDIR)/ksvc
# man/links without comments and blank lines: "ALIAS TARGET" per line.
MAN_LINKS	= sed -e 's/\#.*//' -e '/^[[:space:]]*$$/d' man/links

.PHONY: install uninstall
install: lib
	$(INSTALL) -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(PRELOAD_DIR) \
		$(DESTDIR)$(BINDIR)
	$(INSTALL) -m 644 $(INSTALL_HDRS) $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 644 $(LIBKSVC) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(PACKAGE_VERSION)|' \
	    ksvc.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/ksvc.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/ksvc.pc
	$(INSTALL) -m 755 $(LIBKSVC_PRELOAD) $(DESTDIR)$(PRELOAD_DIR)/
	sed -e 's|^installed_lib=$$|installed_lib=$(PRELOAD_DIR)/libksvc-preload.so|' \
		tools/ksvc-run >$(DESTDIR)$(BINDIR)/ksvc-run
	chmod 755 $(DESTDIR)$(BINDIR)/ksvc-run
	@set -e; for p in $(MAN_PAGES); do \
		sec=$${p%/*}; sec=$${sec##*/}; \
		$(INSTALL) -d $(DESTDIR)$(MANDIR)/$$sec; \
		echo "$(INSTALL) -m 644 $$p $(DESTDIR)$(MANDIR)/$$sec/"; \
		$(INSTALL) -m 644 $$p $(DESTDIR)$(MANDIR)/$$sec/; \
	done
	@set -e; $(MAN_LINKS) | \
	while read -r alias target; do \
		printf '.so %s\n' "$$target" >$(DESTDIR)$(MANDIR)/$$alias; \
		chmod 644 $(DESTDIR)$(MANDIR)/$$alias; \
	done; echo "man page aliases: $$(grep -c '^man' man/links)"

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(INSTALL_HDRS)))
	rm -f $(DESTDIR)$(LIBDIR)/libksvc.a $(DESTDIR)$(PKGCONFIGDIR)/ksvc.pc
	rm -f $(DESTDIR)$(PRELOAD_DIR)/libksvc-preload.so
	-rmdir $(DESTDIR)$(PRELOAD_DIR) 2>/dev/null
	rm -f $(DESTDIR)$(BINDIR)/ksvc-run
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/%,$(MAN_PAGES))
	@$(MAN_LINKS) | \
	while read -r alias target; do \
		rm -f $(DESTDIR)$(MANDIR)/$$alias; \
	done
