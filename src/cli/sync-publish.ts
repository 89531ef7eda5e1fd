// `sync --report-configmap`: the report into a ConfigMap through the Kubernetes layer, loaded only
// when asked for (the client library is large and sync rarely needs it).
import { reportConfigMapData, type SyncReport } from './sync-report.ts';

export async function publishSyncReport(target: string, report: SyncReport): Promise<string> {
  const { applyReportConfigMap, MAX_CONFIGMAP_DATA } = await import('../kube/index.ts');
  return applyReportConfigMap({
    target,
    data: reportConfigMapData(report, MAX_CONFIGMAP_DATA),
    labels: { 'app.kubernetes.io/managed-by': 'portcullis', 'portcullis.dev/report': 'sync' },
  });
}
