#!/usr/bin/env bash
# Builds the libFuzzer targets of Benchmarks/Fuzz and runs them one at a time; prints a table of what each run did.
#
#   Benchmarks/fuzz.sh [--asan] [--time SECONDS] [--keep-going] [--no-build] [target ...]
#
#   --asan        build and run with AddressSanitizer too (scratch path .build-fuzz-asan)
#   --time N      seconds per target (default 600)
#   --keep-going  libFuzzer's fork mode with one worker: a crash, timeout or OOM is saved and the run goes on
#   --no-build    use the binaries already built
#   targets       fuzz-sse fuzz-events fuzz-spec fuzz-manifest fuzz-arguments fuzz-html (default: all)
#
# Seeds are read from Benchmarks/Fuzz/corpus/<target> (never written). New inputs go to <scratch>/fuzz-work/<target>/corpus,
# crash/timeout/OOM inputs to <scratch>/fuzz-work/<target>/artifacts/<run>/, logs beside them; one line per run is added to
# <scratch>/fuzz-work/results.tsv. Everything runs under `nice -n 10`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
package="$here/Fuzz"
all=(fuzz-sse fuzz-events fuzz-spec fuzz-manifest fuzz-arguments fuzz-html)

asan=0
seconds=600
keep_going=0
build=1
targets=()
while (($#)); do
    case "$1" in
        --asan) asan=1 ;;
        --time) seconds="${2:?--time needs a number of seconds}"; shift ;;
        --time=*) seconds="${1#--time=}" ;;
        --keep-going) keep_going=1 ;;
        --no-build) build=0 ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        fuzz-*) targets+=("$1") ;;
        *) echo "fuzz.sh: unknown argument '$1' (targets: ${all[*]})" >&2; exit 2 ;;
    esac
    shift
done
((${#targets[@]})) || targets=("${all[@]}")
for target in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target '$target' (targets: ${all[*]})" >&2; exit 2; }
done

if ((asan)); then
    scratch="$repo/.build-fuzz-asan"
    # SwiftPM passes each --sanitize as its own -sanitize= flag, and swiftc keeps only the last one: without the
    # combined flag after them, Swift code gets AddressSanitizer but no coverage, and libFuzzer runs blind.
    sanitizers=(--sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address)
    mode=asan
else
    scratch="$repo/.build-fuzz"
    sanitizers=(--sanitize=fuzzer)
    mode=plain
fi

if ((build)); then
    echo "== building $package ($mode) in $scratch"
    nice -n 10 swift build -c release --package-path "$package" --scratch-path "$scratch" "${sanitizers[@]}"
fi
bin="$(nice -n 10 swift build -c release --package-path "$package" --scratch-path "$scratch" "${sanitizers[@]}" --show-bin-path)"

max_len() {
    case "$1" in
        fuzz-html) echo 200000 ;;
        fuzz-sse|fuzz-events) echo 65536 ;;
        fuzz-spec) echo 16384 ;;
        *) echo 8192 ;;
    esac
}

# The Swift runtime's backtracer would catch a trap's SIGILL before libFuzzer does, and the input would not be saved.
export SWIFT_BACKTRACE=enable=no
# Leaks that are not Errand's (see the file).
export LSAN_OPTIONS="suppressions=$package/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

work="$scratch/fuzz-work"
mkdir -p "$work"
results="$work/results.tsv"
[[ -f "$results" ]] || printf 'date\ttarget\tmode\tseconds\texecs\texec_per_s\tcov\tft\tcorpus\tfindings\tartifacts\n' > "$results"
rows=()
for target in "${targets[@]}"; do
    run="$(date +%Y%m%d-%H%M%S)"
    corpus="$work/$target/corpus"
    artifacts="$work/$target/artifacts/$run-$mode"
    log="$work/$target/$run-$mode.log"
    mkdir -p "$corpus" "$artifacts"
    options=(-max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
             -artifact_prefix="$artifacts/" -dict="$package/dict/$target.dict")
    ((keep_going)) && options+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    echo "== $target ($mode, ${seconds}s): log $log"
    started=$SECONDS
    status=0
    nice -n 10 "$bin/$target" "${options[@]}" "$corpus" "$package/corpus/$target" > "$log" 2>&1 || status=$?
    elapsed=$((SECONDS - started))
    # Executions: libFuzzer's final stats; in fork mode, the last progress line's count.
    execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)"
    progress="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)"
    [[ -n "$execs" ]] || execs="$(sed -E 's/^#([0-9]+).*/\1/' <<<"$progress")"
    execs="${execs:-0}"
    cov="$(grep -oE 'cov: [0-9]+' <<<"$progress" | awk '{print $2}' || true)"
    ft="$(grep -oE 'ft: [0-9]+' <<<"$progress" | awk '{print $2}' || true)"
    # The corpus libFuzzer holds at the end (entries/bytes); the work folder also keeps inputs it later replaced.
    entries="$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$progress" | awk '{print $2}' || true)"
    findings="$(find "$artifacts" -type f | wc -l)"
    rate=$((elapsed > 0 ? execs / elapsed : execs))
    note=""
    ((status == 0)) || note=" (exit $status)"
    rows+=("$(printf '%-15s %-6s %8s %12s %9s %7s %8s %12s %9s' "$target" "$mode" "$elapsed" "$execs" "$rate" "${cov:--}" "${ft:--}" "${entries:--}" "$findings$note")")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -Iseconds)" "$target" "$mode" "$elapsed" "$execs" "$rate" "${cov:--}" \
        "${ft:--}" "${entries:--}" "$findings" "$artifacts" >> "$results"
    ((findings == 0)) || { echo "   findings:"; find "$artifacts" -type f | sed 's/^/     /'; }
done

echo
printf '%-15s %-6s %8s %12s %9s %7s %8s %12s %9s\n' target mode seconds executions exec/s cov ft corpus findings
printf '%s\n' "$(printf '%.0s-' {1..96})"
printf '%s\n' "${rows[@]}"
echo
echo "corpora: $work/<target>/corpus; artifacts and logs: $work/<target>/; all runs: $results"
