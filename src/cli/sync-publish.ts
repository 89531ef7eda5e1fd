// `sync --report-configmap`: the report into a ConfigMap through the Kubernetes layer, loaded only
// when asked for (the client library is large and sync rarely needs it).
import { reportConfigMapData, type SyncReport } from './sync-report.ts';

export async function publishSyncReport(target: string, report: SyncReport): Promise<string> {
  const { applyReportConfigMap, MAX_CONFIGMAP_DATA } = await import('../kube/index.ts');
  return applyReportConfigMap({
    target,
    data: reportConfigMapData(report, MAX_CONFIGMAP_DATA),
    // Only a label of our own: the chart creates this ConfigMap and keeps it across uninstalls, and
    // Helm adopts it again on a reinstall only while `app.kubernetes.io/managed-by` says Helm.
    labels: { 'portcullis.dev/report': 'sync' },
  });
}
