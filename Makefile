# mailkeep — plain Makefile. `make deps` once (as root on Debian 12), then `make`, `make check`.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/mailkeep

CC      ?= cc
PKGS    := openssl libgit2 yaml-0.1 zlib
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Iinclude
LDLIBS  := -pthread

ifeq ($(SAN),1)
BUILD   := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   := build/rel
SANFLAGS :=
endif

# libgit2 is dlopen()ed on first use by src/git2_dl.c, not linked: loading its dependency tree cost every
# start ~1 ms (docs/design.md). Its headers are still used, and the library loaded is the one they belong
# to: the soname of the libgit2.so pkg-config points at (`libgit2.so` if objdump cannot tell). glibc >= 2.34
# has dlopen in libc: no -ldl.
LINK_PKGS  := openssl yaml-0.1 zlib
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(LINK_PKGS) 2>/dev/null)
GIT2_SONAME = $(or $(shell objdump -p "$$(pkg-config --variable=libdir libgit2 2>/dev/null)/libgit2.so" \
                2>/dev/null | awk '/SONAME/ { print $$2 }'),libgit2.so)
CRIT_CFLAGS = $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS   = $(shell pkg-config --libs criterion 2>/dev/null)

ALL_CFLAGS = $(WARN) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS)

SRCS  := $(sort $(wildcard src/*.c))
OBJS  := $(SRCS:src/%.c=$(BUILD)/src/%.o)
LIB   := $(BUILD)/libmailkeep.a
BIN   := $(BUILD)/mailkeep
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
UNIT_OBJS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%.o)
UNIT_BIN  := $(BUILD)/unit-tests

.PHONY: all check unit integration deps demo install uninstall clean bench fuzz

all: mailkeep

mailkeep: $(BIN)
ifneq ($(SAN),1)
	cp -f $(BIN) $@
endif

$(BUILD)/src/%.o: src/%.c $(wildcard include/mailkeep/*.h) $(wildcard src/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/src/git2_dl.o: CPPFLAGS += -DMK_GIT2_SONAME='"$(GIT2_SONAME)"'

$(BUILD)/cmd/%.o: cmd/%.c $(wildcard include/mailkeep/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(OBJS)

$(BIN): $(BUILD)/cmd/mailkeep.o $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%.o: tests/unit/%.c $(wildcard include/mailkeep/*.h) $(wildcard src/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(CRIT_CFLAGS) -c -o $@ $<

$(UNIT_BIN): $(UNIT_OBJS) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

unit: $(UNIT_BIN)
	$(UNIT_BIN) --jobs 2

integration: $(BIN)
	MAILKEEP=$(abspath $(BIN)) bash tests/integration/run.sh

check: mailkeep unit integration

deps:
	bash tests/deps.sh

demo: deps mailkeep
	bash tests/demo.sh $(abspath $(BIN))

bench: mailkeep
	bash tests/bench.sh $(abspath $(BIN))

# the binary of this build ($(BIN)): with SAN=1 (also inherited by a make run from
# `make check SAN=1`) there is no ./mailkeep
install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/mailkeep
	install -m 0644 sample.yaml $(DESTDIR)$(DOCDIR)/sample.yaml
	for m in docs/*.1; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man1/ || true; done
	for m in docs/*.5; do [ -f "$$m" ] && install -m 0644 "$$m" $(DESTDIR)$(MANDIR)/man5/ || true; done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mailkeep $(DESTDIR)$(DOCDIR)/sample.yaml
	rm -f $(DESTDIR)$(MANDIR)/man1/mailkeep.1 $(DESTDIR)$(MANDIR)/man5/mailkeep.yaml.5

# libFuzzer targets (needs clang: apt-get install clang); run e.g.
#   build/fuzz/fuzz_imap_parse -max_total_time=60
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude
fuzz:
	@mkdir -p build/fuzz
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_imap_parse tests/fuzz/fuzz_imap_parse.c src/imap_parse.c \
		src/imap_frame.c src/buf.c src/log.c
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_config tests/fuzz/fuzz_config.c src/config*.c src/buf.c src/log.c \
		$(shell pkg-config --libs yaml-0.1)
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_state tests/fuzz/fuzz_state.c src/state.c src/kwset.c src/maildir.c \
		src/maildir_name.c src/buf.c src/log.c
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_maildir_name tests/fuzz/fuzz_maildir_name.c src/maildir_name.c \
		src/buf.c src/log.c
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_folder_name tests/fuzz/fuzz_folder_name.c src/utf7.c \
		src/maildir_name.c src/push_name.c src/buf.c src/log.c
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_push_state tests/fuzz/fuzz_push_state.c src/push_plan.c src/kwset.c \
		src/utf7.c src/maildir_name.c src/buf.c src/log.c $(shell pkg-config --libs libcrypto)
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_rekey tests/fuzz/fuzz_rekey.c src/rekey.c src/buf.c src/log.c
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_net_deflate tests/fuzz/fuzz_net_deflate.c src/net_deflate.c \
		src/buf.c src/log.c $(shell pkg-config --libs zlib)
	clang $(FUZZ_FLAGS) -o build/fuzz/fuzz_imap_client tests/fuzz/fuzz_imap_client.c src/imap*.c \
		src/net_deflate.c src/utf7.c src/maildir_name.c src/buf.c src/log.c \
		$(shell pkg-config --libs zlib libcrypto)

clean:
	rm -rf build mailkeep
