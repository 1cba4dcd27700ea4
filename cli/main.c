/* main.c - `lext COMMAND [options]`: dispatch to the commands. */
#include "commands.h"
#include "lext.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"train", cmd_train, "train a model on text"},
    {"info", cmd_info, "show a checkpoint's configuration"},
    {"eval", cmd_eval, "perplexity by segment length under causal, bca and window masks"},
    {"resolution", cmd_resolution, "expected attention score by distance and resolution R"},
    {"plot", cmd_plot, "draw perplexity against length from eval --json reports (SVG)"},
    {"passkey", cmd_passkey, "passkey retrieval by length and depth (exact match, digits, log-prob)"},
    {"generate", cmd_generate, "generate bytes from a model with a kv cache"},
    {"corpus", cmd_corpus, "build a corpus of real text with train/valid/test splits"},
    {"experiment", cmd_experiment, "reproduce the paper's comparison: train, evaluate, report"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: lext COMMAND [options]   (lext COMMAND --help for its options)\n"
               "       lext --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("lext %s\n", lext_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "lext: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
