#!/usr/bin/env bash
# A failing disk instead of a kill: t_crash_inject.sh's scenarios with the N-th call that changes the
# file system failing (EIO, ENOSPC, EACCES, EDQUOT in turn) instead of a SIGKILL. Each run must exit
# 0, 1, 4 or 5 (never crash, never a sanitizer report), name the error when it fails, leave the
# mirror exact when it exits 0; the next run must end exact and the one after change no file.
# MK_INJ_STRIDE, MK_INJ_SCENARIOS, MK_INJ_SERVER as for t_crash_inject.sh.
MK_INJ_ERRNO=1 exec bash "$(dirname "$0")/t_crash_inject.sh"
