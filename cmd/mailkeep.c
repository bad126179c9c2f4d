/* mailkeep: mirror IMAP accounts into Maildir. See cli.c. */
#include "mailkeep/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
