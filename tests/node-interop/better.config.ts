import { defineBetterConfig } from "@usebetterdev/plugin/config";

// What @usebetterdev/tenant-cli migrate reads: the Node service's tenant tables.
export default defineBetterConfig({
  tenant: {
    tenantTables: ["projects"],
  },
});
