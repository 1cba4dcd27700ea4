#!/usr/bin/python3
"""test_passkey.py - `lext passkey --show` against the reference's own prompt generator
(epfml/landmark-attention, llama/run_test.py, generate_prompt), rewritten here with the prefix
length and the key as parameters instead of draws: for contexts of several lengths (some
splitting the filler unevenly) and depths including 0 and 100, lext's prompt must equal the
reference's byte for byte. The last line is "test_passkey.py: N passed, M failed"."""
import math
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEXT = os.environ.get("LEXT_BIN") or os.path.join(ROOT, "lext")
DIGITS = 5


def reference_prompt(n_garbage, n_garbage_prefix, pass_key):
    """generate_prompt of the reference, with its two random draws given."""
    n_garbage_suffix = n_garbage - n_garbage_prefix
    task_description = ("There is an important info hidden inside a lot of irrelevant text. "
                        "Find it and memorize them. I will quiz you about the important information there.")
    garbage = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
    garbage_inf = " ".join([garbage] * 2000)
    assert len(garbage_inf) >= n_garbage
    garbage_prefix = garbage_inf[:n_garbage_prefix]
    garbage_suffix = garbage_inf[:n_garbage_suffix]
    information_line = f"The pass key is {pass_key}. Remember it. {pass_key} is the pass key."
    final_question = "What is the pass key? The pass key is"
    lines = [task_description, garbage_prefix, information_line, garbage_suffix, final_question]
    return "\n".join(lines)


def main():
    passed = failed = 0

    def record(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"  FAIL {what}", flush=True)

    fixed = len(reference_prompt(0, 0, "12345"))
    contexts = [fixed + DIGITS, fixed + DIGITS + 1, fixed + DIGITS + 3, 256, 257, 1000, 4096]
    depths = [0, 10, 25, 33, 50, 77, 100]
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "doc.txt"), "w") as f:
            f.write("some training text for a model that only has to exist. " * 20)
        model = os.path.join(tmp, "m.safetensors")
        p = subprocess.run([LEXT, "train", "--data", tmp, "--pos", "rope", "--layers", "1", "--dim", "16",
                            "--heads", "2", "--train-len", "16", "--batch", "1", "--steps", "1", "--out", model],
                           capture_output=True, text=True)
        record(p.returncode == 0, f"train a model: {p.stderr.strip()}")
        p = subprocess.run([LEXT, "passkey", "--model", model, "--show", "--lengths", ",".join(map(str, contexts)),
                            "--depths", ",".join(map(str, depths)), "--seed", "3"], capture_output=True)
        record(p.returncode == 0, f"passkey --show: {p.stderr.decode(errors='replace').strip()}")
        out = p.stdout.decode("utf-8")
        blocks = re.findall(r"=== context (\d+) \(prompt (\d+)\) depth ([0-9.]+) key (\d{5})\n(.*?)\n(?==== |\Z)",
                            out, flags=re.S)
        record(len(blocks) == len(contexts) * len(depths), f"{len(blocks)} prompts shown")
        keys = set()
        for ctx, plen, depth, key, prompt in blocks:
            ctx, plen, depth = int(ctx), int(plen), float(depth)
            n_garbage = plen - fixed
            n_prefix = math.floor(depth / 100 * n_garbage + 0.5)  # round half away from zero
            want = reference_prompt(n_garbage, n_prefix, key)
            record(plen == ctx - DIGITS and len(prompt) == plen, f"context {ctx}: a prompt of {len(prompt)} bytes")
            record(prompt == want, f"context {ctx} depth {depth}: differs from the reference")
            keys.add(key)
        record(len(keys) >= len(blocks) - 2, f"keys are drawn per prompt ({len(keys)} distinct of {len(blocks)})")
        p = subprocess.run([LEXT, "passkey", "--model", model, "--show", "--lengths", str(fixed + DIGITS - 1)],
                           capture_output=True, text=True)
        record(p.returncode == 1 and "shorter than the passkey template" in p.stderr,
               f"a context below the template: exit {p.returncode}, {p.stderr.strip()}")
    print(f"test_passkey.py: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
