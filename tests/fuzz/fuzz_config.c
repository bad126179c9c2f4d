/* libFuzzer target for the configuration loader.
 *
 *   clang -std=c11 -D_GNU_SOURCE -Iinclude -g -O1 -fsanitize=fuzzer,address,undefined \
 *       tests/fuzz/fuzz_config.c src/config*.c src/buf.c src/log.c $(pkg-config --libs yaml-0.1) \
 *       -o fuzz_config && ./fuzz_config -max_len=4096
 *
 * The input is loaded as a config; when it loads, each account's folder
 * selection runs over a few names. The input is also split at its first
 * newline into a glob pattern and a folder name for config_folder_match(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* deterministic path expansion */
	setenv("HOME", "/home/fuzz", 1);
	setenv("FUZZ", "/fuzz", 1);
	unsetenv("FUZZ_UNSET");
	return 0;
}

static void glob_split(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *pattern, *folder;
	size_t plen;
	if (!nl)
		return;
	plen = (size_t)(nl - data);
	pattern = xstrndup((const char *)data, plen);
	folder = xstrndup((const char *)nl + 1, size - plen - 1);
	/* embedded NULs simply shorten the strings */
	(void)config_folder_match(pattern, folder);
	free(pattern);
	free(folder);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const folders[] = { "INBOX", "inbox/Sub", "Archive/2024/Q1", "Caf\xc3\xa9", "" };
	struct config cfg;
	char err[512];

	if (config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < cfg.n_accounts; i++)
			for (size_t j = 0; j < sizeof(folders) / sizeof(folders[0]); j++)
				(void)config_folder_selected(&cfg.accounts[i], folders[j]);
		config_free(&cfg);
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort(); /* the message must always be terminated */
	}
	if (size < 4096)
		glob_split(data, size);
	return 0;
}
