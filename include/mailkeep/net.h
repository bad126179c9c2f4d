/* Transport: TCP + TLS (OpenSSL) with timeouts. Knows nothing of IMAP.
 * Certificate chain and host name (or IP address) verification are always on
 * when TLS is used: trust = system default store + optional extra CA file. */
#ifndef MAILKEEP_NET_H
#define MAILKEEP_NET_H

#include <stddef.h>
#include <sys/types.h>

struct net_conn; /* opaque */

/* Error classes, so callers can pick exit codes and messages. */
enum net_error {
	NET_OK = 0,
	NET_ERR_RESOLVE = -1,  /* host name lookup failed */
	NET_ERR_CONNECT = -2,  /* refused, unreachable, connect timeout */
	NET_ERR_TLS = -3,      /* handshake failed (not a verification failure) */
	NET_ERR_CERT = -4,     /* certificate chain or host name not verified */
	NET_ERR_TIMEOUT = -5,  /* read/write timed out */
	NET_ERR_CLOSED = -6,   /* peer closed the connection (EOF) */
	NET_ERR_IO = -7,       /* other I/O error */
};

/* Connect to host:port (all resolved addresses tried in order), each attempt and
 * every later read/write bounded by timeout_sec. When tls is non-zero, do a TLS
 * handshake at once (implicit TLS). ca_file may be NULL. On failure returns
 * NULL, sets *errcode (enum net_error) and writes a message naming host:port
 * into err. The connection owns its socket; release with net_close(). */
struct net_conn *net_connect(const char *host, int port, int tls, const char *ca_file,
			     int timeout_sec, int *errcode, char *err, size_t errlen);

/* Upgrade a plain connection to TLS (STARTTLS), verifying as above. The caller
 * must have drained its own read buffer first: any bytes the peer sent before the
 * handshake are a protocol violation (STARTTLS injection, CVE-2011-0411) and the
 * caller must refuse them. Returns 0 or an enum net_error with err set. */
int net_starttls(struct net_conn *c, char *err, size_t errlen);

/* Read up to len bytes (at least 1 unless error). Returns bytes read (>0) or an
 * enum net_error (<0) with err set. Waits at most timeout_sec for data. */
ssize_t net_read(struct net_conn *c, void *data, size_t len, char *err, size_t errlen);
/* A server that drips is bounded: after each write, at most timeout_sec of
 * waiting while less than 1 KiB arrives. A layer that decodes what it reads
 * (COMPRESS) makes that count its decoded bytes instead: it calls
 * net_progress_by_caller() once, then net_progress() with each decoded
 * amount (empty compressed blocks are no progress). */
void net_progress_by_caller(struct net_conn *c);
void net_progress(struct net_conn *c, size_t got);

/* Write all len bytes. Returns 0 or an enum net_error with err set. */
int net_write(struct net_conn *c, const void *data, size_t len, char *err, size_t errlen);

/* 1 when the connection is TLS-protected. */
int net_is_tls(const struct net_conn *c);

/* 1 when TLS has decrypted bytes buffered that net_read would return at once
 * (used to detect data injected before a STARTTLS handshake completed). */
int net_pending(const struct net_conn *c);

/* Close and free (NULL allowed). */
void net_close(struct net_conn *c);

#endif
