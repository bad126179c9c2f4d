/* The racily-clean rule of the snapshot state (snapshot_time_racy): a
 * directory time that a later change could still repeat is not trusted. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "mailkeep/snapshot.h"

#define SEC 1000000000LL

Test(snapshot, time_racy)
{
	static const struct {
		int64_t ctime, now;
		int racy;
		const char *why;
	} cases[] = {
		{ 100 * SEC, 100 * SEC, 1, "the same tick as now (a coarse clock)" },
		{ 100 * SEC + 5, 100 * SEC, 1, "after now: a fine time ahead of the coarse clock" },
		{ 200 * SEC, 100 * SEC, 1, "far after now: another machine's clock" },
		{ 100 * SEC - 4000000, 100 * SEC, 1, "one 4 ms tick ago" },
		{ 99 * SEC, 100 * SEC, 1, "the second before: a file system of whole seconds" },
		{ 98 * SEC + 1, 100 * SEC, 1, "just inside two seconds (FAT keeps even seconds)" },
		{ 98 * SEC, 100 * SEC, 0, "exactly two seconds ago" },
		{ 50 * SEC, 100 * SEC, 0, "long ago" },
		{ 0, 100 * SEC, 0, "no directory (recorded as 0 anyway)" },
		{ -5 * SEC, 100 * SEC, 0, "before the epoch" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(snapshot_time_racy(cases[i].ctime, cases[i].now), cases[i].racy, "%s: %d expected",
			     cases[i].why, cases[i].racy);
}
