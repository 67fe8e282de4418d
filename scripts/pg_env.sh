# shellcheck shell=bash
# PostgreSQL for the tests. Sourced by scripts/test.sh; defines two functions:
#
#   midid_pg_setup     exports MIDID_TEST_DATABASE_URL, taken from the first of these that works:
#                      1. MIDID_TEST_DATABASE_URL already set: used as is; nothing is created.
#                      2. The local server (MIDID_TEST_PGHOST, default 127.0.0.1; MIDID_TEST_PGPORT,
#                         default 5432; MIDID_TEST_PGUSER, default postgres) answers within 3 s: a
#                         uniquely named database midid_test_<pid>_<random> is created on it.
#                      3. A throwaway cluster from the installed server binaries (MIDID_PG_BINDIR,
#                         else the newest /usr/lib/postgresql/*/bin, else `pg_config --bindir`,
#                         else PATH): initdb in a temp dir, started on a free port on 127.0.0.1,
#                         with a database midid_test. As root it runs as the `postgres` user.
#                      It also exports MIDID_TEST_PG_BINDIR when the binaries are found. When none
#                      of the three works it fails under CI (`CI` set), else warns and returns 0.
#   midid_pg_teardown  drops the database, or stops and removes the cluster, that setup created;
#                      nothing in case 1. Safe to call twice, or when setup failed halfway.
#
# Both print what they do on stderr, one line each. Safe under `set -euo pipefail`.

_midid_pg_mode=""      # "", "database" or "cluster": what setup created
_midid_pg_db=""        # database: its name
_midid_pg_psql=""      # database: the psql to drop it with
_midid_pg_host=""      # database: server host
_midid_pg_port=""      # database: server port
_midid_pg_user=""      # database: user
_midid_pg_dir=""       # cluster: temp dir (data/, sock/, log)
_midid_pg_bin=""       # cluster: binaries

_midid_pg_say() { printf '%s\n' "$*" >&2; }

# The directory of the server binaries (initdb, pg_ctl, postgres), or nothing.
_midid_pg_find_bindir() {
    local d newest="" v best=-1
    if [[ -n "${MIDID_PG_BINDIR:-}" ]]; then
        [[ -x "$MIDID_PG_BINDIR/initdb" ]] && printf '%s\n' "$MIDID_PG_BINDIR"
        return 0
    fi
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" ]] || continue
        v=${d#/usr/lib/postgresql/}
        v=${v%/bin}
        [[ "$v" =~ ^[0-9]+$ ]] || continue
        if (( 10#$v > best )); then best=$((10#$v)); newest=$d; fi
    done
    if [[ -n "$newest" ]]; then printf '%s\n' "$newest"; return 0; fi
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null) || d=""
        if [[ -n "$d" && -x "$d/initdb" ]]; then printf '%s\n' "$d"; return 0; fi
    fi
    d=$(command -v initdb 2>/dev/null) || d=""
    if [[ -n "$d" ]]; then printf '%s\n' "${d%/*}"; fi
    return 0
}

# host:port for a URL (IPv6 addresses in brackets, socket directories percent-encoded).
_midid_pg_url_host() {
    local host=$1
    if [[ "$host" == /* ]]; then
        host=${host//%/%25}
        printf '%s' "${host//\//%2F}"
    elif [[ "$host" == *:* ]]; then
        printf '[%s]' "$host"
    else
        printf '%s' "$host"
    fi
}

# Runs a server binary: as the postgres user when root (the server refuses root), from the
# cluster's dir (the postgres user may not be able to reach the current directory).
_midid_pg_as_server_user() {
    if [[ $EUID -eq 0 ]]; then
        (cd "$_midid_pg_dir" && runuser -u postgres -- "$@")
    else
        (cd "$_midid_pg_dir" && "$@")
    fi
}

# Whether something accepts TCP connections on 127.0.0.1:$1.
_midid_pg_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Case 2: a database on the local server. Returns 1 (having created nothing) when it does not work.
_midid_pg_try_local() {
    local psql=$1 host=${MIDID_TEST_PGHOST:-127.0.0.1} port=${MIDID_TEST_PGPORT:-5432}
    local user=${MIDID_TEST_PGUSER:-postgres} db err
    [[ -n "$psql" ]] || return 1
    if ! PGCONNECT_TIMEOUT=3 "$psql" -X -w -q -A -t -h "$host" -p "$port" -U "$user" -d postgres \
            -c 'select 1' >/dev/null 2>&1; then
        return 1
    fi
    db="midid_test_$$_${RANDOM}${RANDOM}"
    if ! err=$(PGCONNECT_TIMEOUT=3 "$psql" -X -w -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$user" \
            -d postgres -c "CREATE DATABASE \"$db\"" 2>&1); then
        _midid_pg_say "postgres for tests: the server on $host:$port answers, but CREATE DATABASE failed: $err"
        return 1
    fi
    _midid_pg_mode=database _midid_pg_db=$db _midid_pg_psql=$psql
    _midid_pg_host=$host _midid_pg_port=$port _midid_pg_user=$user
    export MIDID_TEST_DATABASE_URL="postgres://$user@$(_midid_pg_url_host "$host"):$port/$db"
    _midid_pg_say "postgres for tests: database $db on $host:$port (dropped after)"
}

# Case 3: a throwaway cluster. Returns 1 (having removed what it made) when it does not work.
_midid_pg_try_cluster() {
    local bin=$1 port started="" out
    [[ -n "$bin" && -x "$bin/initdb" && -x "$bin/pg_ctl" ]] || return 1
    if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        _midid_pg_say "postgres for tests: running as root, and there is no postgres user to run a cluster as"
        return 1
    fi
    _midid_pg_dir=$(mktemp -d /tmp/midid-pg.XXXXXX) || { _midid_pg_dir=""; return 1; }
    _midid_pg_mode=cluster _midid_pg_bin=$bin
    mkdir "$_midid_pg_dir/sock"
    if [[ $EUID -eq 0 ]] && ! chown -R postgres: "$_midid_pg_dir"; then
        midid_pg_teardown; return 1
    fi
    if ! out=$(_midid_pg_as_server_user "$bin/initdb" -D "$_midid_pg_dir/data" -A trust -U postgres \
            --no-sync -E UTF8 --locale=C 2>&1); then
        _midid_pg_say "postgres for tests: initdb failed:"
        printf '%s\n' "$out" >&2
        midid_pg_teardown; return 1
    fi
    # A free port: the first of 54320.. where nothing listens and the server starts (another
    # process may take a port between the probe and the start; the next one is tried then).
    for ((port = 54320; port < 54400; port++)); do
        _midid_pg_port_busy "$port" && continue
        rm -f "$_midid_pg_dir/log"
        if _midid_pg_as_server_user "$bin/pg_ctl" -D "$_midid_pg_dir/data" -l "$_midid_pg_dir/log" -w -t 60 \
                -o "-c listen_addresses=127.0.0.1 -p $port -k $_midid_pg_dir/sock -c fsync=off" \
                start >/dev/null 2>&1; then
            started=1
            break
        fi
        # Not started: a port race (try the next port), or anything else (stop; the log tells).
        if ! grep -qi 'address already in use\|could not bind' "$_midid_pg_dir/log" 2>/dev/null; then
            break
        fi
    done
    if [[ -z "$started" ]]; then
        _midid_pg_say "postgres for tests: the throwaway cluster did not start; its log:"
        cat "$_midid_pg_dir/log" >&2 2>/dev/null || true
        midid_pg_teardown; return 1
    fi
    if ! out=$("$bin/psql" -X -w -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
            -c 'CREATE DATABASE midid_test' 2>&1); then
        _midid_pg_say "postgres for tests: CREATE DATABASE on the throwaway cluster failed: $out"
        midid_pg_teardown; return 1
    fi
    export MIDID_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/midid_test"
    _midid_pg_say "postgres for tests: throwaway cluster from $bin on 127.0.0.1:$port in $_midid_pg_dir (removed after)"
}

midid_pg_setup() {
    local bin psql
    bin=$(_midid_pg_find_bindir) || bin=""
    if [[ -n "$bin" && -z "${MIDID_TEST_PG_BINDIR:-}" ]]; then export MIDID_TEST_PG_BINDIR="$bin"; fi
    if [[ -n "${MIDID_TEST_DATABASE_URL:-}" ]]; then
        _midid_pg_say "postgres for tests: MIDID_TEST_DATABASE_URL as given (nothing created or dropped)"
        return 0
    fi
    if [[ -n "$bin" && -x "$bin/psql" ]]; then psql="$bin/psql"; else psql=$(command -v psql 2>/dev/null) || psql=""; fi
    _midid_pg_try_local "$psql" && return 0
    _midid_pg_try_cluster "$bin" && return 0
    local how="install PostgreSQL (Debian: apt-get install postgresql), or set MIDID_TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB"
    local tried="no server answered on ${MIDID_TEST_PGHOST:-127.0.0.1}:${MIDID_TEST_PGPORT:-5432} as ${MIDID_TEST_PGUSER:-postgres}"
    if [[ -z "$bin" ]]; then tried+=", and no server binaries (initdb) were found"; else tried+=", and no throwaway cluster could be started from $bin"; fi
    if [[ -n "${CI:-}" ]]; then
        _midid_pg_say "error: postgres for tests: $tried. CI must run the PostgreSQL tests: $how."
        return 1
    fi
    _midid_pg_say "warning: postgres for tests: none ($tried); the PostgreSQL tests will fail or be skipped. To run them, $how."
    return 0
}

midid_pg_teardown() {
    local mode=$_midid_pg_mode err pid
    _midid_pg_mode=""
    case "$mode" in
    database)
        if err=$(PGCONNECT_TIMEOUT=3 "$_midid_pg_psql" -X -w -q -v ON_ERROR_STOP=1 -h "$_midid_pg_host" \
                -p "$_midid_pg_port" -U "$_midid_pg_user" -d postgres \
                -c "DROP DATABASE IF EXISTS \"$_midid_pg_db\" WITH (FORCE)" 2>&1) \
            || err=$(PGCONNECT_TIMEOUT=3 "$_midid_pg_psql" -X -w -q -v ON_ERROR_STOP=1 -h "$_midid_pg_host" \
                -p "$_midid_pg_port" -U "$_midid_pg_user" -d postgres \
                -c "DROP DATABASE IF EXISTS \"$_midid_pg_db\"" 2>&1); then
            _midid_pg_say "postgres for tests: dropped database $_midid_pg_db"
        else
            _midid_pg_say "warning: postgres for tests: could not drop database $_midid_pg_db on $_midid_pg_host:$_midid_pg_port: $err"
        fi
        unset MIDID_TEST_DATABASE_URL
        ;;
    cluster)
        if [[ -f "$_midid_pg_dir/data/postmaster.pid" ]]; then
            if ! _midid_pg_as_server_user "$_midid_pg_bin/pg_ctl" -D "$_midid_pg_dir/data" -m immediate -w \
                    stop >/dev/null 2>&1; then
                # pg_ctl could not stop it: kill the postmaster, whose pid is the file's first line.
                pid=$(head -n 1 "$_midid_pg_dir/data/postmaster.pid" 2>/dev/null) || pid=""
                if [[ "$pid" =~ ^[0-9]+$ ]]; then kill -QUIT "$pid" 2>/dev/null || true; sleep 1; kill -KILL "$pid" 2>/dev/null || true; fi
            fi
        fi
        rm -rf -- "$_midid_pg_dir"
        _midid_pg_say "postgres for tests: stopped and removed the throwaway cluster in $_midid_pg_dir"
        _midid_pg_dir=""
        unset MIDID_TEST_DATABASE_URL
        ;;
    esac
    return 0
}
