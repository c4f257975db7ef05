/* Client subcommands (status, outages, agents, checks): they talk to a
 * running coordinator's HTTP API. */
#ifndef VTG_CLI_H
#define VTG_CLI_H

/* argv[0] is the subcommand. Returns the exit status: 0 ok, 1 runtime
 * error, 2 bad usage. */
int vtg_cli_run(int argc, char **argv);

#endif
