/* mailkeep: mirror IMAP accounts into Maildir. See cli.c. */
#include <openssl/crypto.h>

#include "mailkeep/cli.h"

int main(int argc, char **argv)
{
	/* A run is one short process: OpenSSL's own clean-up at exit (freeing
	 * every algorithm and provider) would only add ~0.4 ms to each run. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	return cli_main(argc, argv);
}
