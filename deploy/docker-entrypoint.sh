#!/bin/sh
# Secrets as files: for every YUNHENG_<NAME>_FILE, export YUNHENG_<NAME> with that file's
# content (compose secrets and Kubernetes secret volumes are files; the app reads only
# environment variables). Setting both a variable and its _FILE is refused, as is an
# unreadable file, so a half-configured secret stops the start instead of being ignored.
set -eu
for name in $(env | sed -n 's/^\(YUNHENG_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
    file=$(printenv "${name}_FILE")
    if printenv "$name" >/dev/null; then
        echo "yunheng-entrypoint: both $name and ${name}_FILE are set; set one" >&2
        exit 2
    fi
    if [ ! -r "$file" ]; then
        echo "yunheng-entrypoint: ${name}_FILE: cannot read $file" >&2
        exit 2
    fi
    value=$(cat "$file")  # $(...) drops the trailing newline an editor leaves
    export "$name=$value"
    unset "${name}_FILE"
done
exec "$@"
