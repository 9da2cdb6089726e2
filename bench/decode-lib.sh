# Shared by the decode scripts: the bodies they measure and the iterations a round gets.
# Sourced, not run.

# One body per format: legacy CSP, Reporting API CSP, a NEL batch, Safari's single object,
# deprecation, and the three certificate reports.
decode_fixtures=(
  tests/fixtures/lookout/chromium-legacy-csp.json
  tests/fixtures/peers/icco-reportd__reportto__real-life.json
  tests/fixtures/peers/icco-reportd__reportto__nel.json
  tests/fixtures/lookout/safari-single-object.json
  tests/fixtures/peers/icco-reportd__reporting__deprecation.json
  tests/fixtures/peers/django-lookout__hpkp_1.json
  tests/fixtures/peers/django-lookout__expect_ct_1.json
  tests/fixtures/peers/django-lookout__expect_staple_1.json
)

# Iterations of one round for a body: ITERATIONS for bodies up to 400 bytes, fewer for larger
# ones (batches of many reports take longer per body), so that rounds stay short.
iterations_for() { # fixture iterations
  local size
  size=$(stat -c %s "$1")
  echo $(( $2 * 400 / (size > 400 ? size : 400) ))
}
