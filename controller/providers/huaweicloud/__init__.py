"""Huawei Cloud through the official SDK: settings, SDK calls and their failures,
listings, topology.

Nothing here is imported until the provider is chosen: the adapter imports the SDK."""
