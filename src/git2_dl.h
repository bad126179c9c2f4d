/* libgit2, loaded on first use. mailkeep does not link libgit2: its dependency
 * tree (mbedtls, ssh2, krb5, pcre2, ...) cost every start ~1 ms, and only a
 * snapshot needs it. A file that calls libgit2 includes this header after
 * <git2.h> and calls git2_load() before its first git_* call; the names below
 * then call through the table that git2_load() filled from dlopen(). */
#ifndef MAILKEEP_GIT2_DL_H
#define MAILKEEP_GIT2_DL_H

#include <stddef.h>

#include <git2.h>

/* Every libgit2 function mailkeep calls. The binary does not link libgit2, so a
 * function missing from this list or from the names at the end fails the build. */
#define GIT2_FUNCTIONS(X) \
	X(git_blob_create_from_buffer) \
	X(git_blob_create_from_disk) \
	X(git_commit_create) \
	X(git_commit_free) \
	X(git_commit_id) \
	X(git_commit_lookup) \
	X(git_commit_summary) \
	X(git_commit_time) \
	X(git_commit_tree) \
	X(git_config_free) \
	X(git_config_get_bool) \
	X(git_config_set_bool) \
	X(git_error_clear) \
	X(git_error_last) \
	X(git_libgit2_init) \
	X(git_libgit2_shutdown) \
	X(git_libgit2_version) \
	X(git_oid_cpy) \
	X(git_oid_equal) \
	X(git_oid_tostr) \
	X(git_reference_create_matching) \
	X(git_reference_free) \
	X(git_reference_lookup) \
	X(git_reference_target) \
	X(git_repository_free) \
	X(git_repository_head_unborn) \
	X(git_repository_init_ext) \
	X(git_repository_init_options_init) \
	X(git_repository_is_bare) \
	X(git_repository_open_bare) \
	X(git_repository_config) \
	X(git_repository_open_ext) \
	X(git_repository_path) \
	X(git_repository_set_head) \
	X(git_revwalk_free) \
	X(git_revwalk_new) \
	X(git_revwalk_next) \
	X(git_revwalk_push_ref) \
	X(git_revwalk_sorting) \
	X(git_signature_free) \
	X(git_signature_now) \
	X(git_tree_create_updated) \
	X(git_tree_entry_byindex) \
	X(git_tree_entry_bypath) \
	X(git_tree_entry_free) \
	X(git_tree_entry_id) \
	X(git_tree_entry_name) \
	X(git_tree_entry_type) \
	X(git_tree_entrycount) \
	X(git_tree_free) \
	X(git_tree_id) \
	X(git_tree_lookup) \
	X(git_tree_walk) \
	X(git_treebuilder_free) \
	X(git_treebuilder_insert) \
	X(git_treebuilder_new) \
	X(git_treebuilder_remove) \
	X(git_treebuilder_write)

/* One pointer per function, typed from its prototype in <git2.h>. */
struct git2_table {
#define GIT2_MEMBER(name) __typeof__(name) *name;
	GIT2_FUNCTIONS(GIT2_MEMBER)
#undef GIT2_MEMBER
};

/* The loaded functions. A dynamic-link table, not mutable state: written once,
 * under pthread_once, by the first git2_load(), and only read after. Valid once
 * git2_load() returned 0. */
extern struct git2_table git2_table;

/* Load libgit2 (the soname mailkeep was built against, else "libgit2.so") and
 * fill git2_table, once per process; later calls only return the first call's
 * result. Thread-safe. 0, or -1 with err saying which library or function is
 * missing and which package provides it. */
int git2_load(char *err, size_t errlen);

/* The step git2_load() takes for each library name, public for the tests of its
 * errors: dlopen soname, check its version against <git2.h>'s, fill *table. On
 * success the library stays loaded for the life of the process. 0 or -1 with
 * err set. */
int git2_open(const char *soname, struct git2_table *table, char *err, size_t errlen);

/* Callers use libgit2's own names. git2_dl.c defines GIT2_DL_NO_NAMES: it needs
 * the real declarations to type and fill the table. */
#ifndef GIT2_DL_NO_NAMES
#define git_blob_create_from_buffer (git2_table.git_blob_create_from_buffer)
#define git_blob_create_from_disk (git2_table.git_blob_create_from_disk)
#define git_commit_create (git2_table.git_commit_create)
#define git_commit_free (git2_table.git_commit_free)
#define git_commit_id (git2_table.git_commit_id)
#define git_commit_lookup (git2_table.git_commit_lookup)
#define git_commit_summary (git2_table.git_commit_summary)
#define git_commit_time (git2_table.git_commit_time)
#define git_commit_tree (git2_table.git_commit_tree)
#define git_config_free (git2_table.git_config_free)
#define git_config_get_bool (git2_table.git_config_get_bool)
#define git_config_set_bool (git2_table.git_config_set_bool)
#define git_error_clear (git2_table.git_error_clear)
#define git_error_last (git2_table.git_error_last)
#define git_libgit2_init (git2_table.git_libgit2_init)
#define git_libgit2_shutdown (git2_table.git_libgit2_shutdown)
#define git_libgit2_version (git2_table.git_libgit2_version)
#define git_oid_cpy (git2_table.git_oid_cpy)
#define git_oid_equal (git2_table.git_oid_equal)
#define git_oid_tostr (git2_table.git_oid_tostr)
#define git_reference_create_matching (git2_table.git_reference_create_matching)
#define git_reference_free (git2_table.git_reference_free)
#define git_reference_lookup (git2_table.git_reference_lookup)
#define git_reference_target (git2_table.git_reference_target)
#define git_repository_free (git2_table.git_repository_free)
#define git_repository_head_unborn (git2_table.git_repository_head_unborn)
#define git_repository_init_ext (git2_table.git_repository_init_ext)
#define git_repository_init_options_init (git2_table.git_repository_init_options_init)
#define git_repository_is_bare (git2_table.git_repository_is_bare)
#define git_repository_open_bare (git2_table.git_repository_open_bare)
#define git_repository_config (git2_table.git_repository_config)
#define git_repository_open_ext (git2_table.git_repository_open_ext)
#define git_repository_path (git2_table.git_repository_path)
#define git_repository_set_head (git2_table.git_repository_set_head)
#define git_revwalk_free (git2_table.git_revwalk_free)
#define git_revwalk_new (git2_table.git_revwalk_new)
#define git_revwalk_next (git2_table.git_revwalk_next)
#define git_revwalk_push_ref (git2_table.git_revwalk_push_ref)
#define git_revwalk_sorting (git2_table.git_revwalk_sorting)
#define git_signature_free (git2_table.git_signature_free)
#define git_signature_now (git2_table.git_signature_now)
#define git_tree_create_updated (git2_table.git_tree_create_updated)
#define git_tree_entry_byindex (git2_table.git_tree_entry_byindex)
#define git_tree_entry_bypath (git2_table.git_tree_entry_bypath)
#define git_tree_entry_free (git2_table.git_tree_entry_free)
#define git_tree_entry_id (git2_table.git_tree_entry_id)
#define git_tree_entry_name (git2_table.git_tree_entry_name)
#define git_tree_entry_type (git2_table.git_tree_entry_type)
#define git_tree_entrycount (git2_table.git_tree_entrycount)
#define git_tree_free (git2_table.git_tree_free)
#define git_tree_id (git2_table.git_tree_id)
#define git_tree_lookup (git2_table.git_tree_lookup)
#define git_tree_walk (git2_table.git_tree_walk)
#define git_treebuilder_free (git2_table.git_treebuilder_free)
#define git_treebuilder_insert (git2_table.git_treebuilder_insert)
#define git_treebuilder_new (git2_table.git_treebuilder_new)
#define git_treebuilder_remove (git2_table.git_treebuilder_remove)
#define git_treebuilder_write (git2_table.git_treebuilder_write)
#endif

#endif
