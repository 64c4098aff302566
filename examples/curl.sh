#!/bin/sh
# One page of call details (limit=2) with curl.
#
#   export CDRSTORE_URL=http://127.0.0.1:8080 CDRSTORE_APP=demo CDRSTORE_TOKEN=cdr_...
#   sh examples/curl.sh
#
# Prints the JSON body: {"code":0,"result":[...]}. On an error the body is
# {"code":...,"message":"..."} and curl exits 22 (--fail-with-body).
set -eu
: "${CDRSTORE_APP:?set CDRSTORE_APP to the app ID}"
: "${CDRSTORE_TOKEN:?set CDRSTORE_TOKEN to a token with the read scope}"
base="${CDRSTORE_URL:-http://127.0.0.1:8080}"

curl --silent --show-error --fail-with-body --request GET \
  --url "${base%/}/v1/api/apps/${CDRSTORE_APP}/data/call-detail?offset=0&limit=2" \
  --header "Authorization: Bearer ${CDRSTORE_TOKEN}" \
  --header 'accept: application/json'
echo
