#!/usr/bin/env bash
# The queue's throughput against the shared loopback mock server (../../../shared/bench) answering after DELAY_MS, as a
# model's latency would: TASKS tasks of TURNS model turns (TURNS-1 read_file calls, then an answer) served by 1, 2 and 4
# `errand worker` processes of CONCURRENCY each, beside the ideal (tasks x turns x latency / total concurrency), with the
# statements per turn counted by pg_stat_statements. Then, with no latency, the cost of a database journal over a file
# journal: the same tasks through `errand batch` (file journals) and through one worker (rows), wall and CPU per turn.
# PostgreSQL runs with its default durability (fsync and synchronous commits on), in a throwaway cluster of its own.
# Usage: queue-throughput.sh [ERRAND_BINARY] [TASKS] [TURNS] [DELAY_MS] [CONCURRENCY]
#   (defaults: .build/release/errand 1000 10 50 25; build with swift build -c release --product errand)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${ERRAND_SHARED_BENCH:-$(cd "$here/../../.." && pwd)/shared/bench}
bin=$(realpath "${1:-.build/release/errand}"); tasks=${2:-1000}; turns=${3:-10}; delay=${4:-50}; conc=${5:-25}
[ -x "$bin" ] || { echo "no errand binary at $bin (swift build -c release --product errand)"; exit 2; }
[ -f "$shared/mock_responses_server.py" ] || { echo "no mock server in $shared (set ERRAND_SHARED_BENCH)"; exit 2; }
pgbin=$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

tmp=$(mktemp -d); chmod 755 "$tmp"; pgdir="$tmp/pg"; mkdir -p "$pgdir"
[ "$(id -u)" -eq 0 ] && chown postgres "$pgdir"
pgport=$(free_port); port=$(free_port); port0=$(free_port)
workers=()
cleanup() {
  for w in "${workers[@]}"; do kill -9 "$w" 2>/dev/null || true; done
  kill "$srv" "$srv0" 2>/dev/null || true
  as_pg "$pgbin/pg_ctl" -D "$pgdir/data" stop -m immediate >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
as_pg "$pgbin/initdb" -D "$pgdir/data" -U errand -A trust --no-locale -E UTF8 >/dev/null
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -o "-c listen_addresses=127.0.0.1 -c port=$pgport -c unix_socket_directories=$pgdir -c max_connections=300 -c shared_preload_libraries=pg_stat_statements" start >/dev/null
sql() { psql -X -q -At -h 127.0.0.1 -p "$pgport" -U errand -d "$1" -c "$2"; }
python3 "$shared/mock_responses_server.py" "$port" "$((turns - 1))" read_file "$delay" > /dev/null 2>&1 & srv=$!
python3 "$shared/mock_responses_server.py" "$port0" "$((turns - 1))" read_file 0 > /dev/null 2>&1 & srv0=$!
mkdir -p "$tmp/ws/notes"; for i in $(seq 0 "$turns"); do echo "note $i" > "$tmp/ws/notes/$i.txt"; done
spec() { echo "{\"name\": \"bench\", \"model\": \"mock\", \"instructions\": \"Use tools.\", \"tools\": [\"read_file\"],
 \"provider\": {\"base_url\": \"http://127.0.0.1:$1/v1\", \"api_key_env\": \"BENCH_KEY\"}, \"limits\": {\"max_turns\": 1000}, \"workspace\": {\"root\": \"ws\"}}"; }
spec "$port" > "$tmp/slow.json"; spec "$port0" > "$tmp/fast.json"
make_tasks() { for i in $(seq 1 "$1"); do echo "{\"id\": \"t$i\", \"task\": \"read the notes $i\"}"; done > "$2"; }
make_tasks "$tasks" "$tmp/tasks.jsonl"
export BENCH_KEY=sk-bench-local
sleep 0.7
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }  # user + system ticks
pg_cpu() { local t=0 p; for p in $(pgrep -u postgres -f "postgres" || true); do t=$((t + $(cpu_of "$p"))); done; echo "$t"; }
hz=$(getconf CLK_TCK)

# serve DB SPEC TASKS_FILE WORKERS: submits, runs WORKERS workers until every task completed; prints
# "seconds worker_cpu_ticks postgres_cpu_ticks statements"
serve() {
  local db=$1 specfile=$2 taskfile=$3 n=$4 url="postgresql://errand@127.0.0.1:$pgport/$1" total
  sql postgres "CREATE DATABASE $db" >/dev/null
  sql "$db" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  (cd "$tmp" && ERRAND_DATABASE_URL=$url "$bin" queue init >/dev/null 2>&1 && ERRAND_DATABASE_URL=$url "$bin" submit "$specfile" "$taskfile" >/dev/null 2>&1)
  total=$(wc -l < "$taskfile")
  sql "$db" "SELECT pg_stat_statements_reset()" >/dev/null
  local pg0 s e w ticks=0
  pg0=$(pg_cpu); s=$(date +%s%N); workers=()
  for i in $(seq 1 "$n"); do
    (cd "$tmp" && exec env ERRAND_DATABASE_URL="$url" "$bin" worker --name "w$i" --concurrency "$conc" > "$tmp/w$i.log" 2>&1) & workers+=($!)
  done
  until [ "$(sql "$db" "SELECT count(*) FROM errand_tasks WHERE state = 'completed'")" -ge "$total" ]; do
    if [ "$(sql "$db" "SELECT count(*) FROM errand_tasks WHERE state = 'failed'")" -gt 0 ]; then echo "tasks failed: $(sql "$db" "SELECT error FROM errand_tasks WHERE state='failed' LIMIT 1")" >&2; exit 1; fi
    sleep 0.2
  done
  e=$(date +%s%N)
  for w in "${workers[@]}"; do ticks=$((ticks + $(cpu_of "$w"))); done
  local pg1; pg1=$(pg_cpu)
  local statements; statements=$(sql "$db" "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$db') AND query NOT LIKE '%pg_stat_statements%' AND query NOT LIKE 'SELECT count(*) FROM errand_tasks WHERE state%'")
  for w in "${workers[@]}"; do kill -TERM "$w" 2>/dev/null || true; done
  for w in "${workers[@]}"; do wait "$w" 2>/dev/null || true; done
  workers=()
  echo "$(( (e - s) / 1000000 )) $ticks $((pg1 - pg0)) $statements"
}

echo "queue throughput: $tasks tasks x $turns turns, model latency ${delay} ms, concurrency $conc per worker, PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') (fsync on)"
printf "%-8s %10s %10s %8s %12s %14s\n" workers seconds ideal_s ratio turns_per_s statements/turn
for n in 1 2 4; do
  read -r ms ticks pgt stmts < <(serve "bench_w$n" "$tmp/slow.json" "$tmp/tasks.jsonl" "$n")
  ideal=$(python3 -c "print(round($tasks * $turns * $delay / 1000 / ($n * $conc), 2))")
  python3 -c "
ms=$ms; ideal=$ideal; turns=$tasks*$turns
print('%-8s %10.2f %10.2f %8.2f %12.0f %14.2f' % ($n, ms/1000, ideal, ms/1000/ideal, turns/(ms/1000), $stmts/turns))"
done

# The journal's cost: no latency, the same tasks, file journals (errand batch) against rows (one worker).
ftasks=$(( tasks < 400 ? tasks : 400 )); make_tasks "$ftasks" "$tmp/few.jsonl"
s=$(date +%s%N)
( cd "$tmp" && /usr/bin/time -f "%U %S" -o "$tmp/batch.time" "$bin" batch "$tmp/fast.json" "$tmp/few.jsonl" --concurrency "$conc" --journal-dir "$tmp/runs" > /dev/null 2> "$tmp/batch.err" ) \
  || { echo "errand batch failed: $(tail -c 300 "$tmp/batch.err")"; exit 1; }
e=$(date +%s%N); file_ms=$(( (e - s) / 1000000 ))
read -r bu bs < "$tmp/batch.time"
read -r db_ms db_ticks db_pg db_stmts < <(serve bench_file_vs_db "$tmp/fast.json" "$tmp/few.jsonl" 1)
rows=$(sql bench_file_vs_db "SELECT count(*) FROM errand_journal")
python3 -c "
turns=$ftasks*$turns; hz=$hz
file_ms=$file_ms; db_ms=$db_ms; file_cpu=($bu+$bs)*1000; db_cpu=$db_ticks*1000/hz; pg_cpu=$db_pg*1000/hz
print()
print('journal cost, no model latency, %d tasks x %d turns at concurrency %d:' % ($ftasks, $turns, $conc))
print('  file journals (errand batch): %6.3f ms wall/turn, %6.3f ms errand CPU/turn' % (file_ms/turns, file_cpu/turns))
print('  rows (one errand worker):     %6.3f ms wall/turn, %6.3f ms errand CPU/turn, %6.3f ms PostgreSQL CPU/turn, %.2f statements/turn' % (db_ms/turns, db_cpu/turns, pg_cpu/turns, $db_stmts/turns))
print('  extra per turn: %+.3f ms wall, %+.3f ms CPU in all' % ((db_ms-file_ms)/turns, (db_cpu+pg_cpu-file_cpu)/turns))
rows=$rows
print('  journal rows: %d (%.2f a turn), appended at %.0f rows/s through one worker' % (rows, rows/turns, rows/(db_ms/1000)))
"
