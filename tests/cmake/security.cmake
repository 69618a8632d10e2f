# security: the trust boundary (issue 15) from outside — real sponged, real callers made
# unprivileged with setpriv, real worker processes and the kernel's cgroups (root; 77 otherwise).
# Ports 18850-18869 (tests/integration/security-lib.sh). Scripts also run by hand:
#   bash tests/integration/security-changes.sh BUILD_DIR [SOURCE_DIR]
set(SPONGE_SECURITY_ITESTS
    # name       timeout (s)
    changes      150
    host         120
    programs     120
    inherit      120
    env          120
    limits       150
    cgroup-limits 150)
while(SPONGE_SECURITY_ITESTS)
  list(POP_FRONT SPONGE_SECURITY_ITESTS name timeout)
  sponge_add_test(NAME security.${name}
                  COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/security-${name}.sh
                  LABEL integration TIMEOUT ${timeout})
endwhile()

# Unit tests of the pure parts (route rule, directory walk, resolution, trust keys, token file).
add_executable(test-trust ${PROJECT_SOURCE_DIR}/tests/unit/test-trust.c)
target_link_libraries(test-trust PRIVATE sponge_agent PkgConfig::CMOCKA)
foreach(t routes dirs resolve keys token)
  sponge_add_test(NAME trust.${t} COMMAND test-trust ${t} LABEL unit TIMEOUT 30)
endforeach()
