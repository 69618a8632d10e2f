# torch: the two-stage PyTorch pipeline (pipelines/worker/torch, pipelines/examples/
# fmnist-torch.json). torch.train retrains the smallest variant and checks its accuracy (no root
# needed; minutes on the 2-core machine). torch.pipeline runs the example end to end on the real
# sponged and the kernel's real cgroups (root; port 18891 + $SPONGE_TEST_PORT_OFFSET, in the
# 18890-18909 range of the python.* and torch.* tests). Both skip (77) without python3-torch.
sponge_add_test(NAME torch.train
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/torch-train.sh
                LABEL integration TIMEOUT 1800)
sponge_add_test(NAME torch.pipeline
                COMMAND bash ${PROJECT_SOURCE_DIR}/tests/integration/torch-pipeline.sh
                LABEL integration TIMEOUT 1800)
