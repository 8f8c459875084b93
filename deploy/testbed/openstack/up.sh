#!/bin/bash
# Minimal single-node OpenStack (Debian 12 / Zed packages): keystone, glance,
# placement, nova-{api,conductor,scheduler} + N nova-compute with the fake virt
# driver; mariadb + rabbitmq. No neutron (servers booted with networks='none';
# a 30-line stub answers the few neutron calls nova still makes).
# Everything except the packages lives under $OSBED_DIR (/tmp/osbed). Runs as root, no systemd.
# Usage: ./up.sh            bring everything up (quick no-op when all of it already runs)
#        ./up.sh keystone   (re)start only keystone, e.g. after a test stopped it
#        FORCE=1 ./up.sh    redo every step even when all is running
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
B=${OSBED_DIR:-/tmp/osbed}; E=$B/etc; L=$B/log; R=$B/run; S=$B/state
PW=secret; NCOMPUTE=${NCOMPUTE:-3}; FAKEDRV=${FAKEDRV:-fake.MediumFakeDriver}
mkdir -p $E/{keystone,nova,placement,glance} $L $R $S/{keystone,nova,glance/images,lock}
export DEBIAN_FRONTEND=noninteractive
# One up.sh at a time (several test sessions may each find Keystone down and restart it).
# The daemons started below must not inherit fd 9, or they would hold the lock forever.
exec 9>$B/up.lock; flock 9

# ---------- 0. already up? (every daemon alive, the APIs answering, enough compute hosts) ----------
pid_alive() { # pid: it runs (a zombie waiting for its reaper does not count)
  [ -n "$1" ] && ps -o stat= -p "$1" 2>/dev/null | grep -qv Z
}
alive() { pid_alive "$(cat "$1" 2>/dev/null)"; } # pidfile
running() {
  for d in keystone placement glance-api fake-neutron nova-api nova-conductor nova-scheduler \
           $(seq -f 'nova-compute-%g' 1 $NCOMPUTE); do alive $R/$d.pid || return 1; done
  [ -f $B/clouds.yaml ] && [ -f $B/.bootstrapped ] &&
    curl -sf http://127.0.0.1:5000/v3 >/dev/null && curl -sf http://127.0.0.1:8778/ >/dev/null &&
    curl -s http://127.0.0.1:8774/ | grep -q v2.1 && curl -sf http://127.0.0.1:9696/ >/dev/null &&
    curl -s http://127.0.0.1:9292/ | grep -q versions
}
if [ "${1:-}" != keystone ] && [ "${FORCE:-0}" != 1 ] && (running); then
  echo "UP (already running: $B)"; exit 0
fi

# ---------- 1. packages (no service starts, no dbconfig) ----------
if ! dpkg -s nova-api >/dev/null 2>&1; then
  apt-get update
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  for p in keystone nova-common placement-common glance-common glance-api nova-api placement-api; do
    echo "$p $p/dbconfig-install boolean false"; done | debconf-set-selections
  apt-get install -y --no-install-recommends mariadb-server rabbitmq-server keystone \
     placement-api nova-api nova-conductor nova-scheduler glance-api python3-pymysql python3-venv
  rm -f /usr/sbin/policy-rc.d
fi

# ---------- 2. infra ----------
pgrep -x mariadbd >/dev/null || /etc/init.d/mariadb start
pgrep -f beam.smp  >/dev/null || /etc/init.d/rabbitmq-server start
for db in keystone glance placement nova_api nova nova_cell0; do
  # Both grants: a MariaDB with skip_name_resolve (as on this machine kind) sees TCP
  # clients as 127.0.0.1, never as localhost.
  mysql -e "CREATE DATABASE IF NOT EXISTS $db;
    GRANT ALL ON $db.* TO 'os'@'localhost' IDENTIFIED BY '$PW';
    GRANT ALL ON $db.* TO 'os'@'127.0.0.1' IDENTIFIED BY '$PW';"
done
DB="mysql+pymysql://os:$PW@127.0.0.1"
RABBIT="rabbit://guest:guest@127.0.0.1:5672/"

authtoken() { cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
EOF
}
svcauth() { cat <<EOF
auth_type = password
auth_url = http://127.0.0.1:5000/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
region_name = RegionOne
EOF
}

# ---------- 3. config files ----------
cat > $E/keystone/keystone.conf <<EOF
[DEFAULT]
log_file = $L/keystone.log
[database]
connection = $DB/keystone
[token]
provider = fernet
[fernet_tokens]
key_repository = $S/keystone/fernet-keys
[credential]
key_repository = $S/keystone/credential-keys
EOF

cat > $E/placement/placement.conf <<EOF
[DEFAULT]
log_file = $L/placement.log
[api]
auth_strategy = keystone
[placement_database]
connection = $DB/placement
$(authtoken placement)
EOF

cat > $E/glance/glance-api.conf <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
log_file = $L/glance-api.log
enabled_backends = fs:file
[database]
connection = $DB/glance
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $S/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $S/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $S/glance/tasks
$(authtoken glance)
EOF

cp /etc/nova/api-paste.ini $E/nova/api-paste.ini
cat > $E/nova/nova.conf <<EOF
[DEFAULT]
transport_url = $RABBIT
state_path = $S/nova
log_dir = $L
my_ip = 127.0.0.1
compute_driver = $FAKEDRV
heal_instance_info_cache_interval = 0
[api]
auth_strategy = keystone
[api_database]
connection = $DB/nova_api
[database]
connection = $DB/nova
[wsgi]
api_paste_config = $E/nova/api-paste.ini
[oslo_concurrency]
lock_path = $S/lock
[scheduler]
discover_hosts_in_cells_interval = 30
workers = 1
[conductor]
workers = 1
[vnc]
enabled = false
[glance]
endpoint_override = http://127.0.0.1:9292
$(svcauth nova)
[placement]
$(svcauth placement)
[neutron]
endpoint_override = http://127.0.0.1:9696
$(svcauth nova)
[service_user]
send_service_user_token = false
$(authtoken nova)
EOF
for i in $(seq 1 $NCOMPUTE); do
  printf '[DEFAULT]\nhost = fake-compute-%s\nlog_file = %s/nova-compute-%s.log\ninstances_path = %s/nova/instances-%s\n' \
     $i $L $i $S $i > $E/nova/compute-$i.conf
done

# ---------- keystone under uwsgi (also `./up.sh keystone`: restart only keystone) ----------
uw() { # name port wsgi-file env
  uwsgi --plugin python3 --http-socket 127.0.0.1:$2 --wsgi-file $3 --env $4 --master \
        --processes 1 --threads 4 --lazy-apps --die-on-term --buffer-size 65535 --add-header 'Connection: close' \
        --pidfile $R/$1.pid --daemonize $L/$1-uwsgi.log 9>&-
  # uwsgi writes its pidfile before it binds; record the master that holds the port.
  sleep 1; pgrep -o -f "uwsgi .*--http-socket 127.0.0.1:$2 " > $R/$1.pid || true
}
wait_for() { # what url seconds
  for _ in $(seq 1 $3); do curl -sf "$2" >/dev/null && return 0; sleep 1; done
  echo "up.sh: $1 did not answer on $2 within $3 s (see $L)" >&2; exit 1
}
start_keystone() {
  if curl -sf http://127.0.0.1:5000/v3 >/dev/null; then
    pgrep -o -f "uwsgi .*--http-socket 127.0.0.1:5000 " > $R/keystone.pid; return 0
  fi
  local pid; pid=$(cat $R/keystone.pid 2>/dev/null || true)
  if pid_alive "$pid"; then
    # A uwsgi master that no longer answers is shutting down (after a TERM): let it finish.
    for _ in $(seq 1 30); do pid_alive "$pid" || break; sleep 1; done
  fi
  pid_alive "$pid" || uw keystone 5000 /usr/bin/keystone-wsgi-public OS_KEYSTONE_CONFIG_DIR=$E/keystone
  wait_for keystone http://127.0.0.1:5000/v3 120
}
if [ "${1:-}" = keystone ]; then start_keystone; echo UP keystone; exit 0; fi

# ---------- 4. keystone ----------
KC="--config-file $E/keystone/keystone.conf"
keystone-manage $KC db_sync
keystone-manage $KC fernet_setup --keystone-user root --keystone-group root
keystone-manage $KC credential_setup --keystone-user root --keystone-group root
keystone-manage $KC bootstrap --bootstrap-password $PW \
  --bootstrap-admin-url http://127.0.0.1:5000/v3/ --bootstrap-public-url http://127.0.0.1:5000/v3/ \
  --bootstrap-internal-url http://127.0.0.1:5000/v3/ --bootstrap-region-id RegionOne
start_keystone

cat > $B/admin-openrc <<EOF
export OS_AUTH_URL=http://127.0.0.1:5000/v3 OS_USERNAME=admin OS_PASSWORD=$PW OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=RegionOne
EOF
mkdir -p $B/.config/openstack
cat > $B/clouds.yaml <<EOF
clouds:
  osbed:
    auth: {auth_url: http://127.0.0.1:5000/v3, username: admin, password: $PW, project_name: admin,
           user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
    identity_api_version: 3
EOF
. $B/admin-openrc
os() { openstack "$@"; }
# NB: bookworm's osc-lib/keystoneclient combo crashes on name lookups for some
# resources ("Resource.get() takes 1 positional argument"), so resolve IDs via list.
id_of() { os $1 list -f value -c ID -c Name 2>/dev/null | awk -v n="$2" '$2==n{print $1}'; }
[ -n "$(id_of project service)" ] || os project create --domain default service
ADMIN_ROLE=$(id_of role admin); SVC_PROJ=$(id_of project service)
for u in nova placement glance; do
  [ -n "$(id_of user $u)" ] || os user create --domain default --password $PW $u
  os role add --project $SVC_PROJ --user $(id_of user $u) $ADMIN_ROLE
done
ep() { # type name port path
  [ -n "$(os service list -f value -c Type 2>/dev/null | grep -x $1)" ] || {
    os service create --name $2 $1
    for i in public internal admin; do os endpoint create --region RegionOne $1 $i http://127.0.0.1:$3$4; done; }
}
ep compute nova 8774 /v2.1
ep placement placement 8778 ""
ep image glance 9292 ""

# ---------- 5. placement, glance ----------
placement-manage --config-file $E/placement/placement.conf db sync
alive $R/placement.pid || \
  uw placement 8778 /usr/bin/placement-api OS_PLACEMENT_CONFIG_DIR=$E/placement
glance-manage --config-file $E/glance/glance-api.conf db_sync
bg() { # name cmd...  (background daemon with pidfile)
  local n=$1; shift
  alive $R/$n.pid && return 0
  setsid nohup "$@" >> $L/$n.out 2>&1 < /dev/null 9>&- & echo $! > $R/$n.pid
}
bg glance-api glance-api --config-file $E/glance/glance-api.conf
bg fake-neutron /usr/bin/python3 $HERE/fake_neutron.py

# ---------- 6. nova ----------
NC="--config-file $E/nova/nova.conf"
nova-manage $NC api_db sync
nova-manage $NC cell_v2 map_cell0 --database_connection $DB/nova_cell0
nova-manage $NC cell_v2 list_cells | grep -q ' cell1 ' || nova-manage $NC cell_v2 create_cell --name cell1
nova-manage $NC db sync
# nova-api: the eventlet launcher, NOT uwsgi: under uwsgi (nova-api-wsgi) RPC *calls*
# from the API (e.g. os-hypervisors/detail >=2.88 -> get_host_uptime) intermittently
# hit 60 s MessagingTimeout. Casts (server create/delete) worked under uwsgi too.
printf '[DEFAULT]\nenabled_apis = osapi_compute\nosapi_compute_listen = 127.0.0.1\nosapi_compute_workers = 1\n' > $E/nova/api-eventlet.conf
bg nova-api nova-api $NC --config-file $E/nova/api-eventlet.conf --log-file $L/nova-api.log
bg nova-conductor nova-conductor $NC --log-file $L/nova-conductor.log
bg nova-scheduler nova-scheduler $NC --log-file $L/nova-scheduler.log
for i in $(seq 1 $NCOMPUTE); do
  bg nova-compute-$i /usr/bin/python3 -c 'import sys; from nova.cmd.compute import main; sys.argv[0]="nova-compute"; sys.exit(main())' \
     $NC --config-file $E/nova/compute-$i.conf
done
wait_for nova-api http://127.0.0.1:8774/ 120
for _ in $(seq 1 60); do curl -s http://127.0.0.1:9292/ | grep -q versions && break; sleep 1; done
# Map the compute hosts into cell1 as they register (each takes a few seconds to start).
for _ in $(seq 1 24); do
  # Either may fail while a compute host is still registering: try again.
  nova-manage $NC cell_v2 discover_hosts >/dev/null || true
  n=$( (os hypervisor list -f value -c 'Hypervisor Hostname' 2>/dev/null || true) | wc -l)
  [ "$n" -ge "$NCOMPUTE" ] && break
  sleep 5
done
[ "$n" -ge "$NCOMPUTE" ] || { echo "up.sh: only $n of $NCOMPUTE compute hosts registered (see $L)" >&2; exit 1; }

# ---------- 7. flavors + a dummy image ----------
for f in "m1.tiny 512 1 1" "m1.small 2048 20 1" "m1.medium 4096 40 2"; do
  set -- $f; os flavor show $1 >/dev/null 2>&1 || os flavor create --ram $2 --disk $3 --vcpus $4 $1
done
if ! os image show fake-image >/dev/null 2>&1; then
  head -c 1M /dev/zero > $S/fake.img
  os image create --disk-format raw --container-format bare --public --file $S/fake.img fake-image
fi
# Two availability zones and a plain aggregate, so discovery has something to map:
# fake-compute-1 and -2 in zone "nova" (aggregate "ssd", ssd=true), fake-compute-3 in "az2".
[ -n "$(id_of aggregate ssd)" ] || os aggregate create --property ssd=true ssd >/dev/null
[ -n "$(id_of aggregate az2)" ] || os aggregate create --zone az2 az2 >/dev/null
for h in fake-compute-1 fake-compute-2; do
  os aggregate show -f value -c hosts $(id_of aggregate ssd) | grep -q "'$h'" || \
    os aggregate add host $(id_of aggregate ssd) $h >/dev/null
done
os aggregate show -f value -c hosts $(id_of aggregate az2) | grep -q "'fake-compute-3'" || \
  os aggregate add host $(id_of aggregate az2) fake-compute-3 >/dev/null
os compute service list; os hypervisor list; os aggregate list
touch $B/.bootstrapped
echo UP
