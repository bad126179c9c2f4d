/* COMPRESS=DEFLATE (RFC 4978): a raw DEFLATE stream in each direction over a
 * connection, from the end of the tagged OK of COMPRESS to the end of the
 * connection. Reads inflate what the server sent; each write is deflated and
 * flushed (Z_SYNC_FLUSH, RFC 4978 §4) so that a command never waits in the
 * compressor. Knows nothing of IMAP; the connection stays owned by the caller. */
#ifndef MAILKEEP_NET_DEFLATE_H
#define MAILKEEP_NET_DEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct net_conn;
struct net_deflate; /* opaque */

/* Start compression on net. `pending`/`npending`: bytes already read from the
 * connection after the OK (compressed), fed to the inflater first. `peer` names
 * the server in messages (copied). Returns NULL with err set when zlib cannot
 * start. The caller frees with net_deflate_free() before closing net. */
struct net_deflate *net_deflate_new(struct net_conn *net, const char *peer, const void *pending,
				    size_t npending, char *err, size_t errlen);

/* As net_read/net_write (same return values: enum net_error when < 0). A damaged
 * or ended compressed stream is NET_ERR_IO; the connection is unusable after it. */
ssize_t net_deflate_read(struct net_deflate *z, void *data, size_t len, char *err, size_t errlen);
int net_deflate_write(struct net_deflate *z, const void *data, size_t len, char *err, size_t errlen);

/* Bytes that came over the wire (compressed) and that reads returned. */
void net_deflate_counts(const struct net_deflate *z, uint64_t *wire_in, uint64_t *plain_in);

void net_deflate_free(struct net_deflate *z);

#endif
