#!/bin/sh
# Makes the certificates of the TLS tests (cargo test and PHPUnit) in DIR, with the openssl CLI:
#
#   ca.pem ca.key              the test CA
#   other-ca.pem               a CA nobody's certificate is signed by (the "wrong CA")
#   server.pem server.key      CN=localhost, SAN IP:127.0.0.1, IP:::1, DNS:localhost
#   named.pem named.key        SAN DNS:redis.internal only (name mismatch, peer_name)
#   expired.pem expired.key    like server.pem, valid for one day in 2020
#   client.pem client.key      a client certificate of the test CA
#   client-enc.key             client.key encrypted (AES-256) with the passphrase in client-pass.txt
#   client-legacy-enc.key      client.key encrypted in the traditional OpenSSL PEM form, same passphrase
#   client-combined.pem        client.pem followed by client.key (one file, as PHP's local_cert allows)
#   other-client.pem/.key      a client certificate of other-ca (refused by the server)
#
# Usage: scripts/make-test-certs.sh DIR      (about 0.3 s; EC P-256 keys)
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {  # ca NAME SUBJECT
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -subj "/CN=$2" -days 30 \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# The CA database `openssl ca` needs for explicit validity dates.
cat > ca.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
database = db/index.txt
new_certs_dir = db
serial = db/serial
default_md = sha256
policy = any_name
copy_extensions = none
unique_subject = no
[any_name]
commonName = supplied
[server]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
[named]
basicConstraints = CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:redis.internal
[client]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
EOF
rm -rf db && mkdir db && : > db/index.txt && echo 1000 > db/serial

sign() {  # sign NAME CN CA EXTENSIONS [STARTDATE ENDDATE]
    key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    start=${5:-$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)}
    end=${6:-$(date -u -d '+30 days' +%Y%m%d%H%M%SZ)}
    openssl ca -batch -config ca.cnf -cert "$3.pem" -keyfile "$3.key" -in "$1.csr" -out "$1.pem" \
        -extensions "$4" -startdate "$start" -enddate "$end" -notext 2>/dev/null
    rm -f "$1.csr"
}

ca ca "RedisLock Test CA"
ca other-ca "RedisLock Other CA"
sign server localhost ca server
sign named redis.internal ca named
sign expired localhost ca server 20200101000000Z 20200102000000Z
sign client redis-lock-client ca client
sign other-client redis-lock-client other-ca client
printf 'Pass phrase 1' > client-pass.txt
openssl pkcs8 -topk8 -v2 aes-256-cbc -in client.key -out client-enc.key -passout file:client-pass.txt
openssl ec -in client.key -out client-legacy-enc.key -aes256 -passout file:client-pass.txt 2>/dev/null
cat client.pem client.key > client-combined.pem
# redis-server reads these as its own user; the tests run as one user.
chmod 600 ./*.key
