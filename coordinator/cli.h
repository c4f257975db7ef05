/* Client subcommands (status, outages, timeline, agents, checks, silence):
 * they talk to a running coordinator's HTTP API. The formatting helpers
 * below are pure (no I/O) so the unit tests can check their text exactly. */
#ifndef VTG_CLI_H
#define VTG_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "vtg/buf.h"
#include "vtg/json.h"

/* argv[0] is the subcommand. Returns the exit status: 0 ok, 1 runtime
 * error, 2 bad usage. Output on stdout, messages on stderr. */
int vtg_cli_run(int argc, char **argv);

/* Non-zero when name is one of the CLI's subcommands (main.c dispatches on
 * it). */
int vtg_cli_is_command(const char *name);

/* A duration for people: "500 ms", "1.5 s", "45 s", "12 min 5 s", "3 h 5 min",
 * "2 d 3 h" (the smaller unit left out when it is zero). Negative or
 * non-finite input gives "0 s". */
void vtg_cli_fmt_duration(double secs, char *out, size_t size);

/* t_us relative to now_us: "just now" (under a second), "45 s ago",
 * "12 min ago", "3 h 5 min ago", "2 d 3 h ago"; a future time "in 12 min". */
void vtg_cli_fmt_ago(int64_t t_us, int64_t now_us, char *out, size_t size);

/* t_us as local time plus the relative part: "12:04:31 (12 min ago)" when
 * it falls on today's local date, else "2026-11-24 12:04:31 (1 d 2 h ago)".
 * Uses the process's time zone (TZ; the caller has run tzset()). */
void vtg_cli_fmt_time(int64_t t_us, int64_t now_us, char *out, size_t size);

/* Renders the ASCII chart of one incident (an object of the outages
 * contract) into out, its lines shorter than `width` (from 20 columns up;
 * narrower still draws 10 chart columns): one row per region
 * ('#' down, '.' up) over a time axis from a little before the onset to a
 * little after the recovery (to now_us while open), a "waves" row with the
 * wave numbers, an axis line with ticks, local times at both ends and at
 * the ticks, and a legend with the column width. Down time comes from
 * regions[].spans when present, else from the waves a region is listed in,
 * bounded by the region's own onset and recovery. With color, down cells
 * are wrapped in ANSI red. Returns 0, VTG_EINVAL (no usable onset) or the
 * buffer's error (VTG_ENOMEM, VTG_ELIMIT). */
int vtg_cli_timeline_chart(const vtg_json_t *inc, int width, int64_t now_us, int color,
                           vtg_buf_t *out);

/* The same chart, with the minutes a region's state was unknown (no
 * results covered them: its agents were gone, the coordinator was down)
 * drawn '?' where the region is not down. hist is a GET /api/v1/history
 * answer for the incident's check (NULL: none, as above); only its
 * completed minutes count (a minute's cell ending at or before now_us).
 * The legend then names '?'. Minute resolution. */
int vtg_cli_timeline_chart_hist(const vtg_json_t *inc, const vtg_json_t *hist, int width,
                                int64_t now_us, int color, vtg_buf_t *out);

#endif
