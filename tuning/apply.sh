#!/usr/bin/env bash
# Applies a midid PostgreSQL tuning profile to a cluster's data directory, then tells you to
# restart it (or restarts it with --restart).
#
#   tuning/apply.sh PROFILE PGDATA [--restart] [--i-accept-corruption-on-os-crash]
#
# PROFILE: bulk-load | restore | unsafe-bulk (profiles/*.conf). The profile goes into
# PGDATA/midid-tuning.conf, which postgresql.conf includes (`include_if_exists`, added once);
# `restore` empties it. Memory values come from this machine's RAM (MemTotal), or from
# MIDID_TUNING_RAM_MB when set (tests, or a server that shares the machine). Never a fixed 16GB.
# --restart runs `pg_ctl -D PGDATA restart` and checks the server answers.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 2 ] || usage
profile=$1 pgdata=$2; shift 2
restart=0 accept=0
for a in "$@"; do
    case $a in
        --restart) restart=1 ;;
        --i-accept-corruption-on-os-crash) accept=1 ;;
        *) usage ;;
    esac
done
src="$here/profiles/$profile.conf"
[ -f "$src" ] || { echo "apply.sh: no profile $profile (bulk-load, restore, unsafe-bulk)" >&2; exit 2; }
[ -f "$pgdata/postgresql.conf" ] || { echo "apply.sh: $pgdata has no postgresql.conf" >&2; exit 2; }
if [ "$profile" = unsafe-bulk ] && [ $accept -ne 1 ]; then
    cat >&2 <<'WARN'
apply.sh: unsafe-bulk turns fsync and full_page_writes off. PostgreSQL's documentation warns that
an operating system crash or power failure can then corrupt the database beyond recovery. Rerun
with --i-accept-corruption-on-os-crash if the catalog is disposable.
WARN
    exit 2
fi

ram_mb=${MIDID_TUNING_RAM_MB:-$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)}
[ "$ram_mb" -gt 0 ] 2>/dev/null || { echo "apply.sh: cannot read the machine's RAM" >&2; exit 1; }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }
shared=$(max 128 "$(min $((ram_mb / 4)) 8192)")
maint=$(max 64 "$(min $((ram_mb / 16)) 2048)")
cache=$(max 256 $((ram_mb * 3 / 4)))

tmp="$pgdata/midid-tuning.conf.tmp"
{
    echo "# written by midid tuning/apply.sh: profile $profile, RAM ${ram_mb} MB"
    sed -e "s/@SHARED_BUFFERS@/${shared}MB/" -e "s/@MAINTENANCE_WORK_MEM@/${maint}MB/" \
        -e "s/@EFFECTIVE_CACHE_SIZE@/${cache}MB/" "$src"
} > "$tmp"
mv "$tmp" "$pgdata/midid-tuning.conf"
if ! grep -q "^include_if_exists = 'midid-tuning.conf'" "$pgdata/postgresql.conf"; then
    printf "\n# midid tuning profiles (tuning/apply.sh); last, so they win\ninclude_if_exists = 'midid-tuning.conf'\n" >> "$pgdata/postgresql.conf"
fi
echo "apply.sh: $profile written to $pgdata/midid-tuning.conf (RAM ${ram_mb} MB: shared_buffers ${shared}MB, maintenance_work_mem ${maint}MB, effective_cache_size ${cache}MB)"
if [ $restart -eq 1 ]; then
    pg_ctl=${PG_CTL:-pg_ctl}
    "$pg_ctl" -D "$pgdata" -w -t 60 restart -m fast >/dev/null
    echo "apply.sh: restarted; the server is up"
else
    echo "apply.sh: restart PostgreSQL to apply it (wal_level and shared_buffers need a restart)"
fi
