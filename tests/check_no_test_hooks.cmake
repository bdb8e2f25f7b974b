# Fails when the shipped daemon (BIN) contains the test crash hook's
# environment variable name, and when the test daemon (HOOKS_BIN) lacks it
# (so the check cannot pass by searching for the wrong string).
set(hook "BLOCKD_TEST_CRASH_AFTER_BYTES")
file(STRINGS "${BIN}" found REGEX "${hook}")
if(found)
  message(FATAL_ERROR "${BIN} contains ${hook}: test hooks are shipped")
endif()
file(STRINGS "${HOOKS_BIN}" found REGEX "${hook}")
if(NOT found)
  message(FATAL_ERROR "${HOOKS_BIN} lacks ${hook}: the check is not testing")
endif()
message(STATUS "blockd has no test hooks; blockd-testhooks has them")
