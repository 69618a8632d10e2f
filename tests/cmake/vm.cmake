# vm: tests that boot Debian's kernel under qemu (TCG) with tests/vm/vm-run.sh — real cgroup v2
# (and later real systemd), which the host's cgroup-v1 kernel cannot give. Label vm; CI runs
# them in the -Werror build only. The kernel package is fetched once into vm-cache/ (about
# 70 MB download, 400 MB unpacked); a failed download fails the test unless
# SPONGE_VM_ALLOW_SKIP=1 (see tests/vm/vm-kernel.sh).
set(SPONGE_VM_CACHE ${CMAKE_BINARY_DIR}/vm-cache)
set(SPONGE_VM_RUN bash ${PROJECT_SOURCE_DIR}/tests/vm/vm-run.sh --cache ${SPONGE_VM_CACHE})

# Harness smoke test: cgroup2 mounted with the cpu controller, and a busy loop under cpu.max
# "30000 100000" is throttled (busybox shell only, no project code; `sh`, not a host path, so
# the guest's busybox runs it rather than a copy of the host's /bin/sh).
sponge_add_test(NAME vm.boot
                COMMAND ${SPONGE_VM_RUN} --timeout 150
                        --file ${PROJECT_SOURCE_DIR}/tests/vm/guest-boot-check.sh:/vm-boot-check.sh
                        -- sh /vm-boot-check.sh
                LABEL vm TIMEOUT 180)

# The cgroups module's integration test against the real cgroup v2 cpu controller.
if(TARGET test-cgroups-integration)
  sponge_add_test(NAME vm.cgroups
                  COMMAND ${SPONGE_VM_RUN} --timeout 270
                          -- $<TARGET_FILE:test-cgroups-integration>
                  LABEL vm TIMEOUT 300)
else()
  # Visible as a skip rather than silently missing from the suite.
  sponge_add_test(NAME vm.cgroups
                  COMMAND sh -c "echo 'vm.cgroups: SKIP: target test-cgroups-integration is not defined in this build'; exit 77"
                  LABEL vm TIMEOUT 10)
endif()
