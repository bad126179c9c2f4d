/* Unit tests for the IMAP response parser (RFC 3501 §7, §9): framing, parsing
 * of real-world server output (Dovecot, Gmail, Exchange, Cyrus), malformed and
 * hostile input, limits, helpers and sequence sets. Responses are compared
 * through a compact dump of the parsed tree:
 *   U/T:tag/+   kind;  OK/NO/...  status;  [CODE (args)]  response code;
 *   |text|      text;  atoms bare, 'strings' (\xNN for odd bytes), <NIL>, (lists). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailkeep/buf.h"
#include "mailkeep/imap_parse.h"
#include "../../src/imap_internal.h" /* imap_safe_text */

/* ---- dumping parsed responses ---- */

static void ipt_dump_value(struct buf *b, const struct imap_value *v)
{
	switch (v->type) {
	case IMAP_ATOM:
		buf_add(b, v->data, v->len);
		break;
	case IMAP_NIL:
		buf_adds(b, "<NIL>");
		break;
	case IMAP_STRING:
		buf_addch(b, '\'');
		for (size_t i = 0; i < v->len; i++) {
			unsigned char ch = (unsigned char)v->data[i];
			if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
				buf_addch(b, (char)ch);
			else
				buf_addf(b, "\\x%02x", ch);
		}
		buf_addch(b, '\'');
		break;
	case IMAP_LIST:
		buf_addch(b, '(');
		for (size_t i = 0; i < v->n; i++) {
			if (i)
				buf_addch(b, ' ');
			ipt_dump_value(b, &v->items[i]);
		}
		buf_addch(b, ')');
		break;
	}
}

static const char *const ipt_status_names[] = { "NONE", "OK", "NO", "BAD", "PREAUTH", "BYE" };

static char *ipt_dump(const struct imap_response *r)
{
	struct buf b = BUF_INIT;
	if (r->kind == IMAP_RESP_UNTAGGED)
		buf_adds(&b, "U");
	else if (r->kind == IMAP_RESP_TAGGED)
		buf_addf(&b, "T:%.*s", (int)r->tag_len, r->tag);
	else
		buf_adds(&b, "+");
	if (r->status != IMAP_STATUS_NONE)
		buf_addf(&b, " %s", ipt_status_names[r->status]);
	if (r->status != IMAP_STATUS_NONE || r->kind == IMAP_RESP_CONTINUATION) {
		if (r->code) {
			buf_addf(&b, " [%.*s ", (int)r->code_len, r->code);
			ipt_dump_value(&b, &r->code_args);
			buf_addch(&b, ']');
		}
		buf_addf(&b, " |%.*s|", (int)r->text_len, r->text);
		return buf_detach(&b);
	}
	if (r->has_number)
		buf_addf(&b, " %u", r->number);
	buf_addf(&b, " %.*s ", (int)r->name_len, r->name);
	ipt_dump_value(&b, &r->args);
	return buf_detach(&b);
}

struct ipt_case {
	const char *in;
	size_t len;
	const char *want; /* NULL: must fail */
};

#define IPT(in, want) { in, sizeof(in) - 1, want }

static const struct ipt_case ipt_cases[] = {
	/* greetings and status responses */
	IPT("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] "
	    "Dovecot (Debian) ready.\r\n",
	    "U OK [CAPABILITY (IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN)] "
	    "|Dovecot (Debian) ready.|"),
	IPT("* OK Gimap ready for requests from 192.0.2.1 l5mb123456ioj\r\n",
	    "U OK |Gimap ready for requests from 192.0.2.1 l5mb123456ioj|"),
	IPT("* OK The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAMQBDAEEA]\r\n",
	    "U OK |The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAMQBDAEEA]|"),
	IPT("* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE] mail.example.com Cyrus IMAP 3.4.3 server ready\r\n",
	    "U OK [CAPABILITY (IMAP4rev1 LITERAL+ ID ENABLE)] |mail.example.com Cyrus IMAP 3.4.3 server ready|"),
	IPT("* PREAUTH [CAPABILITY IMAP4rev1] Logged in as joe\r\n",
	    "U PREAUTH [CAPABILITY (IMAP4rev1)] |Logged in as joe|"),
	IPT("* BYE Autologout; idle for too long\r\n", "U BYE |Autologout; idle for too long|"),
	IPT("* BYE\r\n", "U BYE ||"),
	IPT("* ok lower case\r\n", "U OK |lower case|"),
	IPT("a2 OK [READ-ONLY] EXAMINE completed\r\n", "T:a2 OK [READ-ONLY ()] |EXAMINE completed|"),
	IPT("a3 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
	    "T:a3 NO [AUTHENTICATIONFAILED ()] |Authentication failed.|"),
	IPT("a4 BAD\r\n", "T:a4 BAD ||"),
	IPT("a1 OK\r\n", "T:a1 OK ||"),
	IPT("a1 OK \r\n", "T:a1 OK ||"),
	IPT("a1 OK   done   \r\n", "T:a1 OK |done|"),
	IPT("A0001 ok LOGIN completed\r\n", "T:A0001 OK |LOGIN completed|"),
	IPT("a1 OK done\n", "T:a1 OK |done|"),
	IPT("* OK [UIDVALIDITY 3857529045] UIDs valid\r\n", "U OK [UIDVALIDITY (3857529045)] |UIDs valid|"),
	IPT("* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] Flags permitted.\r\n",
	    "U OK [PERMANENTFLAGS ((\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*))] |Flags permitted.|"),
	IPT("* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n",
	    "U OK [PERMANENTFLAGS (())] |No permanent flags permitted|"),
	IPT("* OK [UIDNEXT 4392] Predicted next UID\r\n", "U OK [UIDNEXT (4392)] |Predicted next UID|"),
	IPT("* OK [HIGHESTMODSEQ 715194045007] Highest\r\n", "U OK [HIGHESTMODSEQ (715194045007)] |Highest|"),
	IPT("* OK [NOMODSEQ] Sorry, this mailbox format doesn't support modsequences\r\n",
	    "U OK [NOMODSEQ ()] |Sorry, this mailbox format doesn't support modsequences|"),
	IPT("a5 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
	    "T:a5 OK [COPYUID (38505 304,319:320 3956:3958)] |Done|"),
	IPT("* NO [THROTTLED] Account exceeded command or bandwidth limits\r\n",
	    "U NO [THROTTLED ()] |Account exceeded command or bandwidth limits|"),
	IPT("* OK [ALERT] System shutdown in 10 minutes\r\n", "U OK [ALERT ()] |System shutdown in 10 minutes|"),
	IPT("* NO [XYZ some (unbalanced text] rest of it\r\n", "U NO [XYZ ()] |rest of it|"),
	IPT("* NO [XYZ \"unterminated] rest\r\n", "U NO [XYZ ()] |rest|"),
	IPT("* NO [XYZ a)b] rest\r\n", "U NO [XYZ ()] |rest|"),
	IPT("* OK [BADCHARSET (UTF-8 US-ASCII)] charset\r\n", "U OK [BADCHARSET ((UTF-8 US-ASCII))] |charset|"),
	IPT("* NO [WEBALERT https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgn] Web login required.\r\n",
	    "U NO [WEBALERT (https://accounts.google.com/signin/continue?sarp=1&scc=1&plt=AKgn)] |Web login required.|"),
	IPT("a1 NO [REFERRAL imap://user;AUTH=*@SERVER2/] Remote Server\r\n",
	    "T:a1 NO [REFERRAL (imap://user;AUTH=*@SERVER2/)] |Remote Server|"),
	IPT("* OK [UIDVALIDITY 1 ] extra space\r\n", "U OK [UIDVALIDITY (1)] |extra space|"),
	IPT("* OK [ALERT no close bracket\r\n", "U OK |[ALERT no close bracket|"),
	IPT("* OK [XYZ \"a]b\" NIL] text\r\n", "U OK [XYZ ('a]b' <NIL>)] |text|"),
	IPT("* OK [ALERT]text\r\n", "U OK [ALERT ()] |text|"),
	IPT("* OK[ALERT] no space\r\n", "U OK [ALERT ()] |no space|"),
	IPT("* OK [PERMANENTFLAGS (\\Seen foo] \\*)] x\r\n", "U OK [PERMANENTFLAGS ((\\Seen foo] \\*))] |x|"),
	IPT("* NO [XYZ foo[bar] text\r\n", "U NO [XYZ ()] |text|"),
	IPT("* OK [XYZ a [b] c] text\r\n", "U OK [XYZ (a [b] c)] |text|"),
	IPT("* OK [XYZ a]b] text\r\n", "U OK [XYZ (a)] |b] text|"),
	IPT("* OK [CLOSED]\r\n", "U OK [CLOSED ()] ||"),
	IPT("* OK [] empty\r\n", "U OK |[] empty|"),
	IPT("* OK [XYZ {3}\r\na]b] literal in code\r\n", "U OK [XYZ ('a]b')] |literal in code|"),
	IPT("a6 NO [SERVERBUG] Internal error occurred. Refer to server log for more information. "
	    "[2024-01-02 03:04:05]\r\n",
	    "T:a6 NO [SERVERBUG ()] |Internal error occurred. Refer to server log for more information. "
	    "[2024-01-02 03:04:05]|"),
	IPT("a7 NO [UNAVAILABLE] Mailbox unavailable \t tab\r\n", "T:a7 NO [UNAVAILABLE ()] |Mailbox unavailable \t tab|"),
	IPT("* OK Still here \xc3\xa4\r\n", "U OK |Still here \xc3\xa4|"),
	/* continuation requests */
	IPT("+ idling\r\n", "+ |idling|"),
	IPT("+\r\n", "+ ||"),
	IPT("+ \r\n", "+ ||"),
	IPT("+ [ALERT] hi\r\n", "+ [ALERT ()] |hi|"),
	IPT("+ YGgGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzBeBiVHeceP2CWY0SR0fAQAgAAQEBAQ=\r\n",
	    "+ |YGgGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzBeBiVHeceP2CWY0SR0fAQAgAAQEBAQ=|"),
	IPT("+ Ready for literal data\n", "+ |Ready for literal data|"),
	/* untagged data */
	IPT("* 23 EXISTS\r\n", "U 23 EXISTS ()"),
	IPT("* 23 EXISTS\n", "U 23 EXISTS ()"),
	IPT("* 0 RECENT\r\n", "U 0 RECENT ()"),
	IPT("* 3 EXPUNGE\r\n", "U 3 EXPUNGE ()"),
	IPT("* 4294967295 EXISTS\r\n", "U 4294967295 EXISTS ()"),
	IPT("* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n",
	    "U CAPABILITY (IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED)"),
	IPT("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
	    "U FLAGS ((\\Answered \\Flagged \\Deleted \\Seen \\Draft))"),
	IPT("* LIST (\\Noselect) \"/\" foo\r\n", "U LIST ((\\Noselect) '/' foo)"),
	IPT("* LIST (\\HasNoChildren) \".\" INBOX\r\n", "U LIST ((\\HasNoChildren) '.' INBOX)"),
	IPT("* LIST (\\All \\HasNoChildren) \"/\" \"[Gmail]/All Mail\"\r\n",
	    "U LIST ((\\All \\HasNoChildren) '/' '[Gmail]/All Mail')"),
	IPT("* LIST (\\HasNoChildren) \"/\" [Gmail]/Sent\r\n", "U LIST ((\\HasNoChildren) '/' [Gmail]/Sent)"),
	IPT("* LIST () \"/\" foo]bar\r\n", "U LIST (() '/' foo]bar)"),
	IPT("* LIST () \"/\" ]\r\n", "U LIST (() '/' ])"),
	IPT("* LIST (\\Noselect) \"/\" ~/Mail/%\r\n", "U LIST ((\\Noselect) '/' ~/Mail/%)"),
	IPT("* LIST () \"/\" *\r\n", "U LIST (() '/' *)"),
	IPT("* LIST () \"/\" {11}\r\nfoo \"bar\" \\\r\n", "U LIST (() '/' 'foo \"bar\" \\x5c')"),
	IPT("* LIST (\\Noselect) NIL \"\"\r\n", "U LIST ((\\Noselect) <NIL> '')"),
	IPT("* LIST () \"/\" NIL\r\n", "U LIST (() '/' NIL)"),
	IPT("* LIST () \"/\" \"a\\\"b\\\\c\\d\"\r\n", "U LIST (() '/' 'a\"b\\x5cc\\x5cd')"),
	IPT("* LIST (\\Subscribed) \"/\" INBOX (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
	    "U LIST ((\\Subscribed) '/' INBOX ('CHILDINFO' ('SUBSCRIBED')))"),
	IPT("* LIST () \"/\" Entw&APw-rfe\r\n", "U LIST (() '/' Entw&APw-rfe)"),
	IPT("* LSUB () \".\" #news.comp.mail.misc\r\n", "U LSUB (() '.' #news.comp.mail.misc)"),
	IPT("* STATUS \"blurdybloop\" (MESSAGES 231 UIDNEXT 44292)\r\n",
	    "U STATUS ('blurdybloop' (MESSAGES 231 UIDNEXT 44292))"),
	IPT("* STATUS INBOX (MESSAGES 3 UIDNEXT 9)\r\n", "U STATUS (INBOX (MESSAGES 3 UIDNEXT 9))"),
	IPT("* SEARCH 2 84 882\r\n", "U SEARCH (2 84 882)"),
	IPT("* SEARCH\r\n", "U SEARCH ()"),
	IPT("* SEARCH 1 2 3 \r\n", "U SEARCH (1 2 3)"),
	IPT("* SEARCH 2 5 6 (MODSEQ 917162500)\r\n", "U SEARCH (2 5 6 (MODSEQ 917162500))"),
	IPT("* ESEARCH (TAG \"a\") UID ALL 1:3\r\n", "U ESEARCH ((TAG 'a') UID ALL 1:3)"),
	IPT("* ENABLED QRESYNC\r\n", "U ENABLED (QRESYNC)"),
	IPT("* VANISHED (EARLIER) 300:310,405\r\n", "U VANISHED ((EARLIER) 300:310,405)"),
	IPT("* VANISHED 405\r\n", "U VANISHED (405)"),
	IPT("* ID (\"name\" \"Dovecot\" \"version\" \"2.3\")\r\n", "U ID (('name' 'Dovecot' 'version' '2.3'))"),
	IPT("* ID NIL\r\n", "U ID (<NIL>)"),
	IPT("* NAMESPACE ((\"\" \"/\")) NIL ((\"#shared/\" \"/\"))\r\n",
	    "U NAMESPACE ((('' '/')) <NIL> (('#shared/' '/')))"),
	IPT("* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n", "U NAMESPACE ((('INBOX.' '.')) <NIL> <NIL>)"),
	/* FETCH */
	IPT("* 12 FETCH (UID 5 FLAGS (\\Seen $Junk) RFC822.SIZE 4286 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n",
	    "U 12 FETCH ((UID 5 FLAGS (\\Seen $Junk) RFC822.SIZE 4286 INTERNALDATE '17-Jul-1996 02:44:25 -0700'))"),
	IPT("* 1 FETCH (UID 4 MODSEQ (12121231000) FLAGS ())\r\n", "U 1 FETCH ((UID 4 MODSEQ (12121231000) FLAGS ()))"),
	IPT("* 1 FETCH (UID 7 BODY[] {12}\r\nSubject: x\r\n)\r\n",
	    "U 1 FETCH ((UID 7 BODY[] 'Subject: x\\x0d\\x0a'))"),
	IPT("* 2 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID DATE)] {5}\r\nhello UID 9)\r\n",
	    "U 2 FETCH ((BODY[HEADER.FIELDS (MESSAGE-ID DATE)] 'hello' UID 9))"),
	IPT("* 2 FETCH (BODY[HEADER.FIELDS (\"Message-ID\" Date)]<0> \"x\")\r\n",
	    "U 2 FETCH ((BODY[HEADER.FIELDS (\"Message-ID\" Date)]<0> 'x'))"),
	IPT("* 3 FETCH (BODY[]<0> {3}\r\nabc)\r\n", "U 3 FETCH ((BODY[]<0> 'abc'))"),
	/* keywords with '[' (Dovecot accepts them) before a BODY[] on the same line */
	IPT("* 6 FETCH (UID 6 FLAGS ([x a[b \\Seen) INTERNALDATE \"01-Jan-2020 10:00:00 +0000\" BODY[] {3}\r\nabc)\r\n",
	    "U 6 FETCH ((UID 6 FLAGS ([x a[b \\Seen) INTERNALDATE '01-Jan-2020 10:00:00 +0000' BODY[] 'abc'))"),
	IPT("* 6 FETCH (FLAGS ([x) BODY[HEADER.FIELDS (A B)] {3}\r\nabc)\r\n",
	    "U 6 FETCH ((FLAGS ([x) BODY[HEADER.FIELDS (A B)] 'abc'))"),
	IPT("* OK [PERMANENTFLAGS (\\Seen [x \\*)] x\r\n", "U OK [PERMANENTFLAGS ((\\Seen [x \\*))] |x|"),
	IPT("* 4 FETCH (BINARY[1] ~{4}\r\na\0b\xff)\r\n", "U 4 FETCH ((BINARY[1] 'a\\x00b\\xff'))"),
	IPT("* 4 FETCH (BINARY.SIZE[1] 42)\r\n", "U 4 FETCH ((BINARY.SIZE[1] 42))"),
	IPT("* 1 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334865 "
	    "X-GM-LABELS (\\Inbox \\Sent Important \"Muy Importante\" \"\\\\Starred\") UID 1)\r\n",
	    "U 1 FETCH ((X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334865 "
	    "X-GM-LABELS (\\Inbox \\Sent Important 'Muy Importante' '\\x5cStarred') UID 1))"),
	IPT("* 12 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg\" "
	    "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL \"<B27397@cac.washington.edu>\"))\r\n",
	    "U 12 FETCH ((ENVELOPE ('Wed, 17 Jul 1996 02:23:25 -0700 (PDT)' 'IMAP4rev1 WG mtg' "
	    "(('Terry Gray' <NIL> 'gray' 'cac.washington.edu')) <NIL> <NIL> <NIL> '<B27397@cac.washington.edu>')))"),
	IPT("* 5 FETCH (UID 8 BODY[] {0}\r\n)\r\n", "U 5 FETCH ((UID 8 BODY[] ''))"),
	IPT("* 6 FETCH (BODY[HEADER] {3}\r\nabc BODY[TEXT] {2}\r\nxy)\r\n",
	    "U 6 FETCH ((BODY[HEADER] 'abc' BODY[TEXT] 'xy'))"),
	IPT("* 7 FETCH (BODY[] {3+}\r\nabc)\r\n", "U 7 FETCH ((BODY[] 'abc'))"),
	IPT("* 8 FETCH (BODY[] {3}\nabc)\n", "U 8 FETCH ((BODY[] 'abc'))"),
	IPT("* 8 FETCH (BODY[] {5}\r\n{3}\r\n)\r\n", "U 8 FETCH ((BODY[] '{3}\\x0d\\x0a'))"),
	IPT("* 9 FETCH ( UID 1  FLAGS (\\Seen ) )  \r\n", "U 9 FETCH ((UID 1 FLAGS (\\Seen)))"),
	IPT("* 1 FETCH (BODY[] {3}\r\nabcdef)\r\n", "U 1 FETCH ((BODY[] 'abc' def))"),
	IPT("* 1 FETCH (FLAGS (\\Seen)UID 3)\r\n", "U 1 FETCH ((FLAGS (\\Seen) UID 3))"),
	IPT("* 1 FETCH (BODY[1.2.MIME] NIL)\r\n", "U 1 FETCH ((BODY[1.2.MIME] <NIL>))"),
	IPT("* 1 FETCH (BODY[ {3}\r\nabc)\r\n", "U 1 FETCH ((BODY[ 'abc'))"),

	/* malformed */
	IPT("", NULL),
	IPT("* OK missing crlf", NULL),
	IPT("* OK foo\r", NULL),
	IPT("\r\n", NULL),
	IPT("\n", NULL),
	IPT("*\r\n", NULL),
	IPT("* \r\n", NULL),
	IPT("*23 EXISTS\r\n", NULL),
	IPT("* 23\r\n", NULL),
	IPT("* (foo)\r\n", NULL),
	IPT("a1\r\n", NULL),
	IPT("a1 \r\n", NULL),
	IPT("a1 FOO bar\r\n", NULL),
	IPT("a1 BYE x\r\n", NULL),
	IPT("a1 PREAUTH x\r\n", NULL),
	IPT("+foo\r\n", NULL),
	IPT(" a1 OK\r\n", NULL),
	IPT("* 4294967296 EXISTS\r\n", NULL),
	IPT("* 99999999999999999999999 EXISTS\r\n", NULL),
	IPT("* 23 EXISTS\r\n* 24 EXISTS\r\n", NULL),
	IPT("* 1 FETCH (UID 1)\r\n\r\n", NULL),
	IPT("* OK a\rb\r\n", NULL),
	IPT("* OK a\nb\r\n", NULL),
	IPT("* LIST (\\Noselect \"/\" foo\r\n", NULL),
	IPT("* LIST (\\Noselect)) \"/\" foo\r\n", NULL),
	IPT("* LIST () \"/\" \"foo\r\n", NULL),
	IPT("* LIST () \"/\" \"foo\\\"\r\n", NULL),
	IPT("* LIST () \"/\" \"fo\0o\"\r\n", NULL),
	IPT("* SEARCH 1 \0 2\r\n", NULL),
	IPT("* SEARCH 1\0 2\r\n", NULL),
	IPT("* SEARCH 1\x01 2\r\n", NULL),
	IPT("* SEARCH 1\x7f\r\n", NULL),
	IPT("* OK hel\0lo\r\n", NULL),
	IPT("a1 OK [ALERT] x\0\r\n", NULL),
	IPT("* OK [XYZ a\0b] text\r\n", NULL),
	IPT("* OK [XY\0Z] text\r\n", NULL),
	IPT("a1\0 OK\r\n", NULL),
	IPT("\0\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {10}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {4}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {99999999999999999999}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {123456789012345678901}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {9007199254740993}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {9007199254740992}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {18446744073709551616}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {abc}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {-1}\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {3}abc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {3} \r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] ~{3\r\nabc)\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {3}\r\nabc", NULL),
	IPT("* 1 FETCH (BODY[] {3}\r\nabc)", NULL),
	IPT("* 1 FETCH (BODY[] {3}\r\nab\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {0}\r\n", NULL),
	IPT("* 1 FETCH (BODY[] {3}\r\n", NULL),
	IPT("* 1 FETCH (UID 1\r\n", NULL),
	IPT("* 1 FETCH (UID 1))\r\n", NULL),
	IPT("* 1 FETCH (UID\"x\r\n", NULL),
};

Test(imap_parse, response_table)
{
	struct imap_parser *p = imap_parser_new();
	for (size_t i = 0; i < sizeof(ipt_cases) / sizeof(ipt_cases[0]); i++) {
		const struct ipt_case *c = &ipt_cases[i];
		/* a private copy, so ASan catches reads outside the response */
		char *in = xmalloc(c->len ? c->len : 1);
		memcpy(in, c->in, c->len);
		struct imap_response r;
		char err[256] = "";
		int rc = imap_parse(p, in, c->len, &r, err, sizeof(err));
		if (!c->want) {
			cr_expect_eq(rc, -1, "case %zu should fail: %s", i, c->in);
			cr_expect(err[0] != '\0', "case %zu: no error message", i);
		} else {
			cr_expect_eq(rc, 0, "case %zu failed (%s): %s", i, err, c->in);
			if (rc == 0) {
				char *got = ipt_dump(&r);
				cr_expect_str_eq(got, c->want, "case %zu: %s", i, c->in);
				free(got);
			}
		}
		free(in);
	}
	imap_parser_free(p);
}

/* Every complete response in the table also frames as exactly itself. */
Test(imap_parse, table_frames_as_one_response)
{
	for (size_t i = 0; i < sizeof(ipt_cases) / sizeof(ipt_cases[0]); i++) {
		const struct ipt_case *c = &ipt_cases[i];
		if (!c->want)
			continue;
		size_t n = 0;
		char err[128];
		cr_expect_eq(imap_frame_scan(c->in, c->len, &n, err, sizeof(err)), IMAP_FRAME_COMPLETE,
			     "case %zu: %s", i, c->in);
		cr_expect_eq(n, c->len, "case %zu: %s", i, c->in);
	}
}

static int ipt_inside(const struct imap_value *v, const char *buf, size_t len)
{
	return v->data >= buf && v->data + v->len <= buf + len;
}

Test(imap_parse, values_point_into_input)
{
	static const char in[] = "* 1 FETCH (UID 5 X \"plain\" Y \"es\\\"c\" Z {3}\r\nlit)\r\n";
	struct imap_parser *p = imap_parser_new();
	struct imap_response r;
	char err[128];
	cr_assert_eq(imap_parse(p, in, sizeof(in) - 1, &r, err, sizeof(err)), 0, "%s", err);
	const struct imap_value *l = &r.args.items[0];
	cr_assert_eq(l->n, 8);
	cr_expect(ipt_inside(&l->items[0], in, sizeof(in)));     /* UID */
	cr_expect(ipt_inside(&l->items[1], in, sizeof(in)));     /* 5 */
	cr_expect(ipt_inside(&l->items[3], in, sizeof(in)));     /* "plain" */
	cr_expect(!ipt_inside(&l->items[5], in, sizeof(in)));    /* unescaped copy */
	cr_expect_eq(l->items[5].len, 4);
	cr_expect(!memcmp(l->items[5].data, "es\"c", 4));
	cr_expect(ipt_inside(&l->items[7], in, sizeof(in)));     /* literal */
	cr_expect(ipt_inside((const struct imap_value *)&(struct imap_value){ .data = r.name, .len = r.name_len },
			     in, sizeof(in)));
	imap_parser_free(p);
}

Test(imap_parse, status_fields)
{
	static const char in[] = "a17 NO [TRYCREATE] Mailbox doesn't exist: Foo\r\n";
	struct imap_parser *p = imap_parser_new();
	struct imap_response r;
	char err[128];
	cr_assert_eq(imap_parse(p, in, sizeof(in) - 1, &r, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(r.kind, IMAP_RESP_TAGGED);
	cr_expect_eq(r.tag_len, 3);
	cr_expect(!memcmp(r.tag, "a17", 3));
	cr_expect_eq(r.status, IMAP_STATUS_NO);
	cr_expect_eq(r.code_len, 9);
	cr_expect(!memcmp(r.code, "TRYCREATE", 9));
	cr_expect_eq(r.code_args.type, IMAP_LIST);
	cr_expect_eq(r.code_args.n, 0);
	cr_expect_eq(r.text_len, strlen("Mailbox doesn't exist: Foo"));
	cr_expect_eq(r.has_number, 0);
	cr_expect_eq(r.args.n, 0);

	static const char in2[] = "* 23 EXISTS\r\n";
	cr_assert_eq(imap_parse(p, in2, sizeof(in2) - 1, &r, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(r.kind, IMAP_RESP_UNTAGGED);
	cr_expect_eq(r.status, IMAP_STATUS_NONE);
	cr_expect_null(r.code);
	cr_expect_eq(r.has_number, 1);
	cr_expect_eq(r.number, 23);
	cr_expect_eq(r.args.type, IMAP_LIST);
	cr_expect_eq(r.args.n, 0);
	imap_parser_free(p);
}

/* Section atoms must come back whole, brackets, spaces and partial included. */
Test(imap_parse, section_atoms)
{
	static const char *const items[] = {
		"BODY[]", "BODY[]<0>", "BINARY[1]", "BODY[HEADER.FIELDS (Message-ID Date)]",
		"BODY[HEADER.FIELDS.NOT (Received X-Spam)]<0.2048>", "BODY[1.2.TEXT]", "BINARY.SIZE[2]",
	};
	struct imap_parser *p = imap_parser_new();
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		struct buf b = BUF_INIT;
		buf_addf(&b, "* 1 FETCH (%s {2}\r\nxy UID 3)\r\n", items[i]);
		struct imap_response r;
		char err[128];
		cr_assert_eq(imap_parse(p, b.data, b.len, &r, err, sizeof(err)), 0, "%s: %s", items[i], err);
		const struct imap_value *l = &r.args.items[0];
		cr_assert_eq(l->n, 4, "%s", items[i]);
		cr_expect(imap_value_is(&l->items[0], items[i]), "%s", items[i]);
		const struct imap_value *v = imap_fetch_item(l, items[i]);
		cr_assert_not_null(v, "%s", items[i]);
		cr_expect_eq(v->type, IMAP_STRING);
		cr_expect_eq(v->len, 2);
		buf_free(&b);
	}
	imap_parser_free(p);
}

/* ---- errors ---- */

static int ipt_is_clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static size_t ipt_count(const char *s, char ch)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == ch;
	return n;
}

Test(imap_parse, errors_are_short_and_escaped)
{
	struct buf in[5] = { BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT };
	for (int i = 0; i < 500; i++)
		buf_addch(&in[0], 'A');
	buf_add(&in[0], "\0\x01\x1b[31m", 7);
	for (int i = 0; i < 500; i++)
		buf_addch(&in[0], 'A');
	buf_adds(&in[0], "\r\n");
	buf_adds(&in[1], "* OK ");
	for (int i = 0; i < 1000; i++)
		buf_adds(&in[1], "A\x1b");
	for (int i = 0; i < 1000; i++)
		buf_addch(&in[2], 'A');
	buf_adds(&in[3], "* SEARCH ");
	for (int i = 0; i < 300; i++)
		buf_addch(&in[3], 'A');
	buf_adds(&in[3], "\x7f\r\n");
	buf_adds(&in[4], "a1 OK ");
	for (int i = 0; i < 300; i++)
		buf_addch(&in[4], 'A');
	buf_add(&in[4], "\0", 1);
	for (int i = 0; i < 300; i++)
		buf_addch(&in[4], 'A');
	buf_adds(&in[4], "\r\n");
	struct imap_parser *p = imap_parser_new();
	for (size_t i = 0; i < 5; i++) {
		struct imap_response r;
		char err[1024] = "";
		cr_expect_eq(imap_parse(p, in[i].data, in[i].len, &r, err, sizeof(err)), -1, "input %zu", i);
		cr_expect(err[0], "input %zu", i);
		cr_expect(ipt_is_clean(err), "input %zu: raw control bytes in \"%s\"", i, err);
		cr_expect_leq(ipt_count(err, 'A'), 80, "input %zu echoes too much: %s", i, err);
		buf_free(&in[i]);
	}
	/* the error buffer is bounded by errlen and may be tiny */
	struct imap_response r;
	char tiny[8];
	memset(tiny, 'x', sizeof(tiny));
	cr_expect_eq(imap_parse(p, "* 1\r\n", 5, &r, tiny, sizeof(tiny)), -1);
	cr_expect_eq(tiny[7], '\0');
	cr_expect_eq(imap_parse(p, "* 1\r\n", 5, &r, NULL, 0), -1);
	imap_parser_free(p);
}

/* ---- limits ---- */

static char *ipt_nested(unsigned depth, size_t *len)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "* 1 FETCH ");
	for (unsigned i = 0; i < depth; i++)
		buf_addch(&b, '(');
	buf_adds(&b, "x");
	for (unsigned i = 0; i < depth; i++)
		buf_addch(&b, ')');
	buf_adds(&b, "\r\n");
	*len = b.len;
	return buf_detach(&b);
}

Test(imap_parse, depth_limit)
{
	struct imap_parser *p = imap_parser_new();
	struct imap_response r;
	char err[256];
	size_t len;
	char *in = ipt_nested(IMAP_MAX_DEPTH, &len);
	cr_assert_eq(imap_parse(p, in, len, &r, err, sizeof(err)), 0, "%s", err);
	const struct imap_value *v = &r.args;
	unsigned depth = 0;
	while (v->type == IMAP_LIST && v->n == 1) {
		v = &v->items[0];
		depth++;
	}
	cr_expect_eq(depth, IMAP_MAX_DEPTH + 1); /* args plus the nested lists */
	cr_expect(imap_value_is(v, "x"));
	free(in);
	in = ipt_nested(IMAP_MAX_DEPTH + 1, &len);
	cr_expect_eq(imap_parse(p, in, len, &r, err, sizeof(err)), -1);
	cr_expect(strstr(err, "nested") != NULL, "%s", err);
	free(in);
	in = ipt_nested(100000, &len);
	cr_expect_eq(imap_parse(p, in, len, &r, err, sizeof(err)), -1);
	free(in);
	/* deep nesting inside a response code degrades to empty code args */
	struct buf b = BUF_INIT;
	buf_adds(&b, "* OK [XYZ ");
	for (int i = 0; i < 100; i++)
		buf_addch(&b, '(');
	for (int i = 0; i < 100; i++)
		buf_addch(&b, ')');
	buf_adds(&b, "] deep\r\n");
	cr_assert_eq(imap_parse(p, b.data, b.len, &r, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(r.code_len, 3);
	cr_expect_eq(r.code_args.n, 0);
	cr_expect_eq(r.text_len, 4);
	buf_free(&b);
	imap_parser_free(p);
}

static char *ipt_search(size_t n, size_t *len)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, "* SEARCH");
	buf_grow(&b, n * 2 + 2);
	for (size_t i = 0; i < n; i++)
		buf_add(&b, " 7", 2);
	buf_adds(&b, "\r\n");
	*len = b.len;
	return buf_detach(&b);
}

Test(imap_parse, item_limit_and_arena_reuse)
{
	struct imap_parser *p = imap_parser_new();
	struct imap_response r;
	char err[256];
	size_t len;
	char *in = ipt_search(IMAP_MAX_ITEMS, &len);
	cr_assert_eq(imap_parse(p, in, len, &r, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(r.args.n, IMAP_MAX_ITEMS);
	cr_expect(imap_value_is(&r.args.items[IMAP_MAX_ITEMS - 1], "7"));
	free(in);
	in = ipt_search(IMAP_MAX_ITEMS + 1, &len);
	cr_expect_eq(imap_parse(p, in, len, &r, err, sizeof(err)), -1);
	cr_expect(strstr(err, "too many") != NULL, "%s", err);
	free(in);
	/* nested lists count too */
	struct buf b = BUF_INIT;
	buf_adds(&b, "* X");
	for (size_t i = 0; i < IMAP_MAX_ITEMS / 2 + 1; i++)
		buf_adds(&b, " ()");
	buf_adds(&b, "\r\n");
	cr_expect_eq(imap_parse(p, b.data, b.len, &r, err, sizeof(err)), 0, "%s", err);
	buf_reset(&b);
	buf_adds(&b, "* X");
	for (size_t i = 0; i < IMAP_MAX_ITEMS / 2 + 1; i++)
		buf_adds(&b, " (a)");
	buf_adds(&b, "\r\n");
	cr_expect_eq(imap_parse(p, b.data, b.len, &r, err, sizeof(err)), -1);
	buf_free(&b);
	/* after huge responses, small ones parse correctly from recycled memory */
	for (int i = 0; i < 2000; i++) {
		char s[128];
		int n = snprintf(s, sizeof(s), "* %d FETCH (UID %d FLAGS (\\Seen \"k\\\\%d\"))\r\n", i + 1, i + 7, i);
		cr_assert_eq(imap_parse(p, s, (size_t)n, &r, err, sizeof(err)), 0, "%s", err);
		cr_assert_eq(r.number, (uint32_t)i + 1);
		uint32_t uid;
		cr_assert_eq(imap_value_u32(imap_fetch_item(&r.args.items[0], "UID"), &uid), 0);
		cr_assert_eq(uid, (uint32_t)i + 7);
		const struct imap_value *f = imap_fetch_item(&r.args.items[0], "FLAGS");
		char want[32];
		snprintf(want, sizeof(want), "k\\%d", i);
		cr_assert(imap_value_is(&f->items[1], want));
	}
	imap_parser_free(p);
	imap_parser_free(NULL);
}

/* A mailbox-sized stream: 100k FETCH responses framed and parsed one by one. */
Test(imap_parse, many_fetch_responses)
{
	struct buf b = BUF_INIT;
	for (unsigned i = 1; i <= 100000; i++)
		buf_addf(&b, "* %u FETCH (UID %u MODSEQ (%u) FLAGS (\\Seen $Label%u) "
			 "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE %u)\r\n",
			 i, i * 3, i + 1000, i % 7, i * 11);
	buf_adds(&b, "a9 OK [CLOSED] Fetch completed (0.123 + 0.000 secs).\r\n");
	struct imap_parser *p = imap_parser_new();
	size_t off = 0, count = 0;
	for (;;) {
		size_t n;
		char err[256];
		struct imap_response r;
		int fr = imap_frame_scan(b.data + off, b.len - off, &n, err, sizeof(err));
		if (fr == IMAP_FRAME_INCOMPLETE)
			break;
		cr_assert_eq(fr, IMAP_FRAME_COMPLETE, "%s", err);
		cr_assert_eq(imap_parse(p, b.data + off, n, &r, err, sizeof(err)), 0, "%s", err);
		if (r.kind == IMAP_RESP_UNTAGGED) {
			uint32_t uid;
			cr_assert_eq(imap_value_u32(imap_fetch_item(&r.args.items[0], "uid"), &uid), 0);
			cr_assert_eq(uid, r.number * 3);
		}
		off += n;
		count++;
	}
	cr_expect_eq(off, b.len);
	cr_expect_eq(count, 100001);
	buf_free(&b);
	imap_parser_free(p);
}

/* ---- framing ---- */

struct ipt_frame_case {
	const char *in;
	size_t len;
	int rc;
	size_t resp_len;
};

#define IPF(in, rc, n) { in, sizeof(in) - 1, rc, n }

static const struct ipt_frame_case ipt_frames[] = {
	IPF("* 23 EXISTS\r\n", IMAP_FRAME_COMPLETE, 13),
	IPF("* 23 EXISTS\r\n* 24", IMAP_FRAME_COMPLETE, 13),
	IPF("* 23 EXISTS\n* 24 EXISTS\n", IMAP_FRAME_COMPLETE, 12),
	IPF("* 23 EXI", IMAP_FRAME_INCOMPLETE, 0),
	IPF("* 23 EXISTS\r", IMAP_FRAME_INCOMPLETE, 0),
	IPF("", IMAP_FRAME_INCOMPLETE, 0),
	IPF("\n", IMAP_FRAME_COMPLETE, 1),
	IPF("* 1 FETCH (BODY[] {5}\r\nhello)\r\n", IMAP_FRAME_COMPLETE, 31),
	IPF("* 1 FETCH (BODY[] {5}\r\nhel", IMAP_FRAME_INCOMPLETE, 0),
	IPF("* 1 FETCH (BODY[] {5}\r\nhello", IMAP_FRAME_INCOMPLETE, 0),
	IPF("* 1 FETCH (BODY[] {5}\r\nhello)", IMAP_FRAME_INCOMPLETE, 0),
	IPF("* 1 FETCH (BODY[] {5}\r", IMAP_FRAME_INCOMPLETE, 0),
	IPF("* 1 FETCH (BODY[] {5", IMAP_FRAME_INCOMPLETE, 0),
	IPF("* 1 FETCH (BODY[] {8}\r\nx {99}\r\n)\r\n", IMAP_FRAME_COMPLETE, 34),
	IPF("* 1 FETCH (BODY[] {2}\r\n\r\n)\r\n", IMAP_FRAME_COMPLETE, 28),
	IPF("* 1 FETCH (BINARY[] ~{3}\r\na\0b)\r\n", IMAP_FRAME_COMPLETE, 32),
	IPF("* 1 FETCH (BODY[] {3+}\r\nabc)\r\n", IMAP_FRAME_COMPLETE, 30),
	IPF("A {2}\nab\n", IMAP_FRAME_COMPLETE, 9),
	IPF("A {0}\r\n\r\n", IMAP_FRAME_COMPLETE, 9),
	IPF("A {0}\r\n{0}\r\n{0}\r\n)\r\n", IMAP_FRAME_COMPLETE, 20),
	IPF("* OK {some text}\r\n", IMAP_FRAME_COMPLETE, 18),
	IPF("* OK {}\r\n", IMAP_FRAME_ERROR, 0),
	IPF("* 1 FETCH (BODY[] {abc}\r\n", IMAP_FRAME_ERROR, 0),
	IPF("* 1 FETCH (BODY[] {1a}\r\n", IMAP_FRAME_ERROR, 0),
	IPF("* 1 FETCH (BODY[] {99999999999999999999}\r\n", IMAP_FRAME_ERROR, 0),
	IPF("* 1 FETCH (BODY[] {123456789012345678901}\r\n", IMAP_FRAME_ERROR, 0),
	IPF("* 1 FETCH (BODY[] {9007199254740993}\r\n", IMAP_FRAME_ERROR, 0),
	IPF("* 1 FETCH (BODY[] {9007199254740992}\r\n", IMAP_FRAME_INCOMPLETE, 0),
	IPF("* 1 FETCH (BODY[] {3}\r\nabc {x}\r\n", IMAP_FRAME_ERROR, 0),
	IPF("* 1 FETCH (BODY[] {4294967296}\r\nabc)\r\n", IMAP_FRAME_INCOMPLETE, 0),
};

Test(imap_parse_frame, table)
{
	for (size_t i = 0; i < sizeof(ipt_frames) / sizeof(ipt_frames[0]); i++) {
		const struct ipt_frame_case *c = &ipt_frames[i];
		char *in = xmalloc(c->len ? c->len : 1);
		memcpy(in, c->in, c->len);
		size_t n = 0;
		char err[256] = "";
		int rc = imap_frame_scan(in, c->len, &n, err, sizeof(err));
		cr_expect_eq(rc, c->rc, "case %zu: got %d: %s", i, rc, c->in);
		if (rc == IMAP_FRAME_COMPLETE)
			cr_expect_eq(n, c->resp_len, "case %zu: %s", i, c->in);
		if (rc == IMAP_FRAME_ERROR)
			cr_expect(err[0] && ipt_is_clean(err), "case %zu: %s", i, err);
		free(in);
	}
}

/* Feed every prefix of a response with several literals (one holding a fake
 * marker and a line break): INCOMPLETE until the last byte, then COMPLETE. */
Test(imap_parse_frame, every_prefix)
{
	static const char resp[] =
		"* 6 FETCH (UID 1 BODY[HEADER] {12}\r\nSubject: x\r\n BODY[TEXT] {7}\r\nhi\r\n{1}"
		" FLAGS (\\Seen) BINARY[2] ~{3}\r\n\0\r\n X-GM-LABELS ({2}\r\n()))\r\n";
	static const char next[] = "a1 OK done\r\n";
	const size_t len = sizeof(resp) - 1;
	char *buf = xmalloc(len + sizeof(next));
	memcpy(buf, resp, len);
	memcpy(buf + len, next, sizeof(next));
	for (size_t k = 0; k < len; k++) {
		char *pre = xmalloc(k ? k : 1);
		memcpy(pre, resp, k);
		size_t n = 0;
		char err[128];
		cr_assert_eq(imap_frame_scan(pre, k, &n, err, sizeof(err)), IMAP_FRAME_INCOMPLETE,
			     "prefix of %zu bytes", k);
		free(pre);
	}
	size_t n = 0;
	char err[128];
	cr_assert_eq(imap_frame_scan(buf, len, &n, err, sizeof(err)), IMAP_FRAME_COMPLETE);
	cr_expect_eq(n, len);
	cr_assert_eq(imap_frame_scan(buf, len + sizeof(next) - 1, &n, err, sizeof(err)), IMAP_FRAME_COMPLETE);
	cr_expect_eq(n, len);

	struct imap_parser *p = imap_parser_new();
	struct imap_response r;
	cr_assert_eq(imap_parse(p, buf, n, &r, err, sizeof(err)), 0, "%s", err);
	char *got = ipt_dump(&r);
	cr_expect_str_eq(got, "U 6 FETCH ((UID 1 BODY[HEADER] 'Subject: x\\x0d\\x0a' BODY[TEXT] 'hi\\x0d\\x0a{1}' "
			 "FLAGS (\\Seen) BINARY[2] '\\x00\\x0d\\x0a' X-GM-LABELS ('()')))");
	free(got);
	imap_parser_free(p);
	free(buf);
}

/* A stream of responses arriving in reads of every size from 1 to 19 bytes
 * yields the same frames as when it arrives whole. */
Test(imap_parse_frame, split_reads)
{
	static const char *const resps[] = {
		"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n",
		"* 1 FETCH (UID 3 BODY[] {10}\r\n0123456789)\r\n",
		"* 2 FETCH (UID 4 BODY[HEADER.FIELDS (Date)] {0}\r\n BODY[TEXT] {4}\r\n{9}\n)\r\n",
		"+ \r\n",
		"* 3 EXISTS\n",
		"* LIST () \"/\" {3}\r\nfoo\r\n",
		"a1 OK done\r\n",
	};
	const size_t nresp = sizeof(resps) / sizeof(resps[0]);
	struct buf all = BUF_INIT;
	for (size_t i = 0; i < nresp; i++)
		buf_adds(&all, resps[i]);
	struct imap_parser *p = imap_parser_new();
	for (size_t chunk = 1; chunk < 20; chunk++) {
		struct buf in = BUF_INIT;
		size_t fed = 0, got = 0;
		while (got < nresp) {
			size_t n;
			char err[128];
			int rc = imap_frame_scan(in.data ? in.data : "", in.len, &n, err, sizeof(err));
			cr_assert_neq(rc, IMAP_FRAME_ERROR, "%s", err);
			if (rc == IMAP_FRAME_INCOMPLETE) {
				cr_assert_lt(fed, all.len, "chunk %zu: stream ended inside response %zu", chunk, got);
				size_t k = all.len - fed < chunk ? all.len - fed : chunk;
				buf_add(&in, all.data + fed, k);
				fed += k;
				continue;
			}
			cr_assert_eq(n, strlen(resps[got]), "chunk %zu, response %zu", chunk, got);
			cr_assert(!memcmp(in.data, resps[got], n));
			struct imap_response r;
			cr_assert_eq(imap_parse(p, in.data, n, &r, err, sizeof(err)), 0, "%s", err);
			buf_consume(&in, n);
			got++;
		}
		cr_expect_eq(in.len, 0);
		buf_free(&in);
	}
	buf_free(&all);
	imap_parser_free(p);
}

struct ipt_lit_case {
	const char *line;
	int rc;
	uint64_t size;
	size_t off;
};

static const struct ipt_lit_case ipt_lits[] = {
	{ "* 1 FETCH (BODY[] {42}\r\n", 1, 42, 18 },
	{ "* 1 FETCH (BINARY[] ~{42}\r\n", 1, 42, 20 },
	{ "{0}\n", 1, 0, 0 },
	{ "~{0}\n", 1, 0, 0 },
	{ "a1 APPEND x {5+}\r\n", 1, 5, 12 },
	{ "* OK {9007199254740992}\r\n", 1, 9007199254740992ULL, 5 },
	{ "x{7}\r\n", 1, 7, 1 },
	{ "* OK done\r\n", 0, 0, 0 },
	{ "* OK {some words}\r\n", 0, 0, 0 },
	{ "* OK \"{5}\"\r\n", 0, 0, 0 },
	{ "* OK {5} \r\n", 0, 0, 0 },
	{ "* OK {5}\r\r\n", 0, 0, 0 },
	{ "* OK {5}", 0, 0, 0 },
	{ "* OK {5}\r", 0, 0, 0 },
	{ "}\r\n", 0, 0, 0 },
	{ "\n", 0, 0, 0 },
	{ "{abc}\r\n", -1, 0, 0 },
	{ "{}\r\n", -1, 0, 0 },
	{ "{+}\r\n", -1, 0, 0 },
	{ "{5++}\r\n", -1, 0, 0 },
	{ "{1+2}\r\n", -1, 0, 0 },
	{ "{-1}\r\n", -1, 0, 0 },
	{ "{123456789012345678901}\r\n", -1, 0, 0 },
	{ "{00000000000000000001}\r\n", 1, 1, 0 },
	{ "{9007199254740993}\r\n", -1, 0, 0 },
	{ "{18446744073709551616}\r\n", -1, 0, 0 },
};

Test(imap_parse_frame, literal_at_end)
{
	for (size_t i = 0; i < sizeof(ipt_lits) / sizeof(ipt_lits[0]); i++) {
		const struct ipt_lit_case *c = &ipt_lits[i];
		size_t len = strlen(c->line);
		char *line = xmalloc(len ? len : 1);
		memcpy(line, c->line, len);
		uint64_t size = 12345;
		size_t off = 999;
		int rc = imap_frame_literal_at_end(line, len, &size, &off);
		cr_expect_eq(rc, c->rc, "case %zu: %s", i, c->line);
		if (rc == 1 && c->rc == 1) {
			cr_expect_eq(size, c->size, "case %zu", i);
			cr_expect_eq(off, c->off, "case %zu", i);
		}
		free(line);
	}
}

/* The list depth imap_read_response streams a FETCH's body at: only its own
 * BODY[] item (depth 1), not one nested in another item. */
struct ipt_depth_case {
	const char *text;
	int from;
	int depth;
};

static const struct ipt_depth_case ipt_depths[] = {
	{ "", 0, 0 },
	{ "* 1 FETCH (UID 1 BODY[] ", 0, 1 },
	{ "* 1 FETCH (UID 1 X-JUNK (BODY[] ", 0, 2 },
	{ ") BODY[] ", 2, 1 },
	{ "* 1 FETCH (FLAGS (\\Seen) BODY[HEADER.FIELDS (A B)] ", 0, 1 },
	{ "* 1 FETCH (X \"(\" BODY[] ", 0, 1 },
	{ "* 1 FETCH (X \"a\\\"(\" BODY[] ", 0, 1 },
	{ "* 1 FETCH (X \"a\\\\\" ( BODY[] ", 0, 2 },
	{ ")))", 1, 0 },
	{ "((((", 30, 34 },
};

Test(imap_parse_frame, depth)
{
	for (size_t i = 0; i < sizeof(ipt_depths) / sizeof(ipt_depths[0]); i++) {
		const struct ipt_depth_case *c = &ipt_depths[i];
		cr_expect_eq(imap_frame_depth(c->text, strlen(c->text), c->from), c->depth, "case %zu: %s", i,
			     c->text);
	}
}

/* ---- helpers ---- */

struct ipt_num_case {
	const char *s;
	int rc32;
	uint32_t v32;
	int rc64;
	uint64_t v64;
};

static const struct ipt_num_case ipt_nums[] = {
	{ "0", 0, 0, 0, 0 },
	{ "7", 0, 7, 0, 7 },
	{ "007", 0, 7, 0, 7 },
	{ "4294967295", 0, 4294967295U, 0, 4294967295U },
	{ "4294967296", -1, 0, 0, 4294967296ULL },
	{ "715194045007", -1, 0, 0, 715194045007ULL },
	{ "18446744073709551615", -1, 0, 0, 18446744073709551615ULL },
	{ "18446744073709551616", -1, 0, -1, 0 },
	{ "99999999999999999999", -1, 0, -1, 0 },
	{ "000000000000000000001", -1, 0, -1, 0 },
	{ "", -1, 0, -1, 0 },
	{ "12a", -1, 0, -1, 0 },
	{ "-1", -1, 0, -1, 0 },
	{ "+1", -1, 0, -1, 0 },
	{ " 1", -1, 0, -1, 0 },
	{ "1 ", -1, 0, -1, 0 },
	{ "0x10", -1, 0, -1, 0 },
};

Test(imap_parse_helpers, numbers)
{
	for (size_t i = 0; i < sizeof(ipt_nums) / sizeof(ipt_nums[0]); i++) {
		const struct ipt_num_case *c = &ipt_nums[i];
		struct imap_value v = { .type = IMAP_ATOM, .data = c->s, .len = strlen(c->s) };
		uint32_t v32 = 99;
		uint64_t v64 = 99;
		cr_expect_eq(imap_value_u32(&v, &v32), c->rc32, "u32 \"%s\"", c->s);
		if (!c->rc32)
			cr_expect_eq(v32, c->v32, "u32 \"%s\"", c->s);
		cr_expect_eq(imap_value_u64(&v, &v64), c->rc64, "u64 \"%s\"", c->s);
		if (!c->rc64)
			cr_expect_eq(v64, c->v64, "u64 \"%s\"", c->s);
	}
	struct imap_value s = { .type = IMAP_STRING, .data = "5", .len = 1 };
	struct imap_value nil = { .type = IMAP_NIL };
	struct imap_value list = { .type = IMAP_LIST };
	uint32_t v32;
	uint64_t v64;
	cr_expect_eq(imap_value_u32(&s, &v32), -1);
	cr_expect_eq(imap_value_u64(&nil, &v64), -1);
	cr_expect_eq(imap_value_u64(&list, &v64), -1);
	cr_expect_eq(imap_value_u32(NULL, &v32), -1);
}

Test(imap_parse_helpers, value_is_and_fetch_item)
{
	static const char in[] = "* 3 FETCH (UID 17 Flags (\\Seen) \"BODY[]\" x "
				 "BODY[HEADER.FIELDS (MESSAGE-ID)] NIL RFC822.SIZE)\r\n";
	struct imap_parser *p = imap_parser_new();
	struct imap_response r;
	char err[128];
	cr_assert_eq(imap_parse(p, in, sizeof(in) - 1, &r, err, sizeof(err)), 0, "%s", err);
	const struct imap_value *l = &r.args.items[0];
	const struct imap_value *v = imap_fetch_item(l, "uid");
	cr_assert_not_null(v);
	cr_expect(imap_value_is(v, "17"));
	v = imap_fetch_item(l, "FLAGS");
	cr_assert_not_null(v);
	cr_expect_eq(v->type, IMAP_LIST);
	cr_expect(imap_value_is(&v->items[0], "\\SEEN"));
	cr_expect_null(imap_fetch_item(l, "BODY[]"), "a string is not an item name");
	v = imap_fetch_item(l, "body[header.fields (message-id)]");
	cr_assert_not_null(v);
	cr_expect_eq(v->type, IMAP_NIL);
	cr_expect_null(imap_fetch_item(l, "RFC822.SIZE"), "item without a value");
	cr_expect_null(imap_fetch_item(l, "17"), "values are not names");
	cr_expect_null(imap_fetch_item(l, "MODSEQ"));
	cr_expect_null(imap_fetch_item(&l->items[0], "UID"), "not a list");
	cr_expect_null(imap_fetch_item(NULL, "UID"));

	struct imap_value a = { .type = IMAP_ATOM, .data = "INBOX", .len = 5 };
	struct imap_value s = { .type = IMAP_STRING, .data = "inbox", .len = 5 };
	struct imap_value n = { .type = IMAP_NIL };
	cr_expect(imap_value_is(&a, "inbox"));
	cr_expect(imap_value_is(&s, "INBOX"));
	cr_expect(!imap_value_is(&a, "INBOX2"));
	cr_expect(!imap_value_is(&a, "INBO"));
	cr_expect(!imap_value_is(&a, ""));
	cr_expect(!imap_value_is(&n, "NIL"));
	cr_expect(!imap_value_is(NULL, "x"));
	struct imap_value z = { .type = IMAP_STRING, .data = "a\0b", .len = 3 };
	cr_expect(!imap_value_is(&z, "a"));
	imap_parser_free(p);
}

/* ---- sequence sets ---- */

struct ipt_seq_case {
	const char *s;
	uint32_t star;
	const char *want; /* "lo-hi;..." or NULL for a syntax error */
};

static const struct ipt_seq_case ipt_seqs[] = {
	{ "1", 10, "1-1" },
	{ "1:5", 10, "1-5" },
	{ "5:1", 10, "1-5" },
	{ "*", 100, "100-100" },
	{ "3:*", 100, "3-100" },
	{ "*:3", 100, "3-100" },
	{ "*:*", 100, "100-100" },
	{ "1,3:4,7", 10, "1-1;3-4;7-7" },
	{ "300:310,405", 0, "300-310;405-405" },
	{ "4294967295", 1, "4294967295-4294967295" },
	{ "1:4294967295", 1, "1-4294967295" },
	{ "2,2,1", 1, "2-2;2-2;1-1" },
	{ "", 10, NULL },
	{ "0", 10, NULL },
	{ "0:5", 10, NULL },
	{ "1:0", 10, NULL },
	{ "00", 10, NULL },
	{ "4294967296", 10, NULL },
	{ "99999999999999999999999", 10, NULL },
	{ "a", 10, NULL },
	{ "1,", 10, NULL },
	{ ",1", 10, NULL },
	{ "1,,2", 10, NULL },
	{ "1::2", 10, NULL },
	{ "1:", 10, NULL },
	{ ":1", 10, NULL },
	{ " 1", 10, NULL },
	{ "1 ", 10, NULL },
	{ "1:2:3", 10, NULL },
	{ "-1", 10, NULL },
	{ "+1", 10, NULL },
	{ "1*", 10, NULL },
	{ "**", 10, NULL },
	{ "1;2", 10, NULL },
	{ "1:5,x", 10, NULL },
	/* star_value 0: no "*" (the UID sets a server sends have none); it gave UID 0,
	 * and "* VANISHED (EARLIER) 5:*" took UIDs 1 to 4 for expunged (fuzz_imap_client) */
	{ "*", 0, NULL },
	{ "5:*", 0, NULL },
	{ "*:5", 0, NULL },
	{ "1,*", 0, NULL },
};

static int ipt_seq_cb(uint32_t lo, uint32_t hi, void *ctx)
{
	struct buf *b = ctx;
	buf_addf(b, "%s%u-%u", b->len ? ";" : "", lo, hi);
	return 0;
}

Test(imap_parse_seqset, table)
{
	for (size_t i = 0; i < sizeof(ipt_seqs) / sizeof(ipt_seqs[0]); i++) {
		const struct ipt_seq_case *c = &ipt_seqs[i];
		struct buf b = BUF_INIT;
		size_t len = strlen(c->s);
		char *s = xmalloc(len ? len : 1);
		memcpy(s, c->s, len);
		int rc = imap_parse_seqset(s, len, c->star, ipt_seq_cb, &b);
		if (!c->want) {
			cr_expect_eq(rc, -1, "\"%s\" should fail", c->s);
			cr_expect_eq(b.len, 0, "\"%s\": callback ran on a bad set", c->s);
		} else {
			cr_expect_eq(rc, 0, "\"%s\"", c->s);
			cr_expect_str_eq(b.data ? b.data : "", c->want, "\"%s\"", c->s);
		}
		free(s);
		buf_free(&b);
	}
}

static int ipt_seq_stop(uint32_t lo, uint32_t hi, void *ctx)
{
	int *calls = ctx;
	return ++*calls == 2 ? -5 : 0;
}

Test(imap_parse_seqset, callback_failure_stops)
{
	int calls = 0;
	cr_expect_eq(imap_parse_seqset("1,2,3,4", 7, 0, ipt_seq_stop, &calls), -1);
	cr_expect_eq(calls, 2);
	/* the length bounds the parse: the rest of the C string is ignored */
	struct buf b = BUF_INIT;
	cr_expect_eq(imap_parse_seqset("1:5,junk", 3, 0, ipt_seq_cb, &b), 0);
	cr_expect_str_eq(b.data, "1-5");
	buf_free(&b);
}

/* ---- imap_safe_text: server text on its way to a terminal ---- */

Test(imap_safe_text, escapes_what_a_terminal_acts_on)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain text", "plain text" },
		{ "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac" },
		{ "\x1b[31mred\x07", "\\x1b[31mred\\x07" },
		{ "a\xc2\x9b" "31mb", "a\\xc2\\x9b31mb" },       /* U+009B CSI in UTF-8 */
		{ "a\x9b" "31mb", "a\\x9b31mb" },                /* an 8-bit CSI: not UTF-8 */
		{ "x\xe2\x80\xaey\xe2\x81\xa6z", "x\\xe2\\x80\\xaey\\xe2\\x81\\xa6z" }, /* RLO, LRI */
		{ "\xff\xfe\xc3", "\\xff\\xfe\\xc3" },
		{ "del\x7f", "del\\x7f" },
	};
	char out[200];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		imap_safe_text(out, sizeof(out), cases[i].in, strlen(cases[i].in));
		cr_assert_str_eq(out, cases[i].want, "case %zu", i);
	}
	/* bounded: never a partial escape or a cut character, always terminated */
	char small[7];
	imap_safe_text(small, sizeof(small), "ab\x1b\x1b", 4);
	cr_assert_str_eq(small, "ab\\x1b");
	imap_safe_text(small, sizeof(small), "abcde\xc3\xa9", 7);
	cr_assert_str_eq(small, "abcde");
	imap_safe_text(small, 1, "abc", 3);
	cr_assert_str_eq(small, "");
}

/* A refused login's text may echo the password: masked, same length, every time. */
Test(imap_redact, masks_every_occurrence)
{
	char s[] = "NO wrong password: pw-1 (pw-1) pw-";
	imap_redact(s, "pw-1");
	cr_assert_str_eq(s, "NO wrong password: **** (****) pw-");
	char t[] = "nothing here";
	imap_redact(t, "");
	imap_redact(t, NULL);
	cr_assert_str_eq(t, "nothing here");
}
