#!/bin/bash
# Stop everything up.sh started (by pidfile; MariaDB and RabbitMQ are left running).
# WIPE=1 also drops the databases and the state, so the next up.sh starts from empty.
# `NCOMPUTE=3 ./down.sh extra-hosts` instead stops only the compute hosts numbered above
# NCOMPUTE and removes them from Nova and Placement (back to 3 after NCOMPUTE=6 ./up.sh).
B=${OSBED_DIR:-/tmp/osbed}; R=$B/run
stop() { # pidfile
  local p; p=$(cat "$1"); kill -- -"$p" 2>/dev/null || kill "$p" 2>/dev/null; rm -f "$1"
}
if [ "${1:-}" = extra-hosts ]; then
  . $B/admin-openrc
  for f in $R/nova-compute-*.pid; do
    [ -f "$f" ] || continue
    i=${f##*/nova-compute-}; i=${i%.pid}
    [ "$i" -gt "${NCOMPUTE:-3}" ] || continue
    stop "$f"; rm -f $B/etc/nova/compute-$i.conf
    id=$(openstack compute service list --service nova-compute -f value -c ID -c Host 2>/dev/null |
         awk -v h="fake-compute-$i" '$2==h{print $1}')
    [ -n "$id" ] && openstack compute service delete "$id" && echo "removed fake-compute-$i"
  done
  exit 0
fi
for f in $R/*.pid; do [ -f "$f" ] && stop "$f"; done
sleep 3
if [ "${WIPE:-0}" = 1 ]; then
  for db in keystone glance placement nova_api nova nova_cell0; do mysql -e "DROP DATABASE IF EXISTS $db"; done
  rm -rf $B/state $B/log $B/.bootstrapped
fi
