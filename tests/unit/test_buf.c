/* The growable buffer: content kept across growths, printf growth, and the
 * secret buffers (BUF_SECRET) that the login builds its commands in. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "mailkeep/buf.h"

/* Grows through 64, 128, ... 8192 bytes one piece at a time, the way the login
 * adds a user name and a password; every byte must survive each growth. */
static void grow_in_pieces(struct buf *b)
{
	char want[8193];
	for (size_t i = 0; i < sizeof(want) - 1; i++) {
		char ch = (char)('a' + i % 26);
		want[i] = ch;
		buf_addch(b, ch);
	}
	want[sizeof(want) - 1] = '\0';
	cr_assert_eq(b->len, sizeof(want) - 1);
	cr_assert_geq(b->cap, b->len + 1);
	cr_assert_str_eq(b->data, want);
}

Test(buf, plain_and_secret_grow_alike)
{
	struct buf plain = BUF_INIT, secret = BUF_SECRET;
	cr_expect_eq(plain.secret, 0);
	cr_expect_eq(secret.secret, 1);
	grow_in_pieces(&plain);
	grow_in_pieces(&secret);
	buf_free(&plain);
	buf_free(&secret);
	cr_expect_null(secret.data);
	cr_expect_eq(secret.len, 0);
	cr_expect_eq(secret.cap, 0);
	/* a freed secret buffer stays one: used again, it grows the same way */
	cr_expect_eq(secret.secret, 1);
	grow_in_pieces(&secret);
	buf_free(&secret);
}

/* buf_addf formats into the room there is, then grows and formats again: on a
 * secret buffer the second pass must land whole in the new allocation. */
Test(buf, secret_printf_across_a_growth)
{
	struct buf b = BUF_SECRET;
	char token[3000];
	memset(token, 'T', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	buf_adds(&b, "a1 AUTHENTICATE XOAUTH2 ");
	size_t start = b.len;
	buf_addf(&b, "user=%s\001auth=Bearer %s\001\001", "me@example.org", token);
	cr_assert_eq(b.len - start, strlen("user=me@example.org\001auth=Bearer ") + strlen(token) + 2);
	static const char head[] = "a1 AUTHENTICATE XOAUTH2 user=me@example.org\001auth=Bearer TTT";
	cr_expect_eq(memcmp(b.data, head, sizeof(head) - 1), 0);
	cr_expect_eq(b.data[b.len], '\0');
	cr_expect_eq(b.data[b.len - 1], '\001');
	buf_free(&b);
}

Test(buf, consume_reset_detach)
{
	struct buf b = BUF_INIT;
	buf_add_i64(&b, INT64_MIN);
	buf_addch(&b, ' ');
	buf_add_i64(&b, 0);
	buf_addch(&b, ' ');
	buf_add_i64(&b, INT64_MAX);
	cr_expect_str_eq(b.data, "-9223372036854775808 0 9223372036854775807");
	buf_consume(&b, 21);
	cr_expect_str_eq(b.data, "0 9223372036854775807");
	buf_consume(&b, 100);
	cr_expect_eq(b.len, 0);
	cr_expect_str_eq(b.data, "");
	buf_adds(&b, "kept");
	char *s = buf_detach(&b);
	cr_expect_str_eq(s, "kept");
	cr_expect_null(b.data);
	free(s);
	s = buf_detach(&b); /* never NULL */
	cr_expect_str_eq(s, "");
	free(s);
}
