#!/usr/bin/env bash
# man.sh LEXT VERSION - writes the lext(1) man page (roff) to stdout from the tool's own
# help texts: `lext --help` for the command list and `lext COMMAND --help` for each
# command's options, so the page always matches the build it comes with (`make man`).
set -euo pipefail
lext=$1 version=$2
# roff: a backslash is written \e; a line may not begin with . or '
esc() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
commands=$("$lext" --help | sed -n 's/^  \([a-z][a-z]*\)  .*/\1/p')
cat <<END
.TH LEXT 1 "" "lext $version" "User Commands"
.SH NAME
lext \- train and evaluate small byte-level transformer language models
.SH SYNOPSIS
.B lext
.I COMMAND
.RI [ options ]
.br
.B lext
.I COMMAND
.B \-\-help
.br
.B lext \-\-version
.SH DESCRIPTION
.B lext
trains and runs small causal transformer language models over bytes on plain CPUs, with a
choice of position scheme (none, sinusoidal, learned, ALiBi, RoPE, XPOS) and of attention
mask at inference (full causal, blockwise causal "bca", sliding window), after Sun et al.
2022, "A Length-Extrapolatable Transformer".
Checkpoints are safetensors files.
Bad input gets a message that names the problem and a non-zero exit.
The same functionality is a C library (\fBlext.h\fR, \fB\-llext\fR; see
\fBpkg-config \-\-cflags \-\-libs lext\fR).
.SH COMMANDS
.nf
END
"$lext" --help | sed -n '/^commands:/,$p' | tail -n +2 | esc
echo ".fi"
for c in $commands; do
    echo ".SS lext $c"
    echo ".nf"
    "$lext" "$c" --help | esc
    echo ".fi"
done
cat <<END
.SH ENVIRONMENT
.TP
.B OMP_WAIT_POLICY
PASSIVE makes the OpenMP threads sleep between parallel regions instead of spinning: the
better choice on a machine busy with other work.
.SH EXIT STATUS
0 on success (also when training is stopped by Ctrl-C or SIGTERM after saving), non-zero on
any error, with a message on standard error.
.SH SEE ALSO
The README of the lext source tree: the model, the checkpoint format, the evaluation
protocol and the library's ABI promise.
END
