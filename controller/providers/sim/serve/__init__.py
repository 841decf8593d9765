"""enictl sim serve: the simulated cloud behind Huawei Cloud's HTTP API, with request signing."""
