/* commands.h - one entry point per `lext` command; each returns the process exit status. */
#ifndef LEXT_CLI_COMMANDS_H
#define LEXT_CLI_COMMANDS_H

int cmd_train(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_resolution(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_corpus(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_passkey(int argc, char **argv);

#endif
