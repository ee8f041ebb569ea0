import { ARCHIVE_URL } from '../../lib/audit-api';

/** "Download my data": every chat, usage record and security event of the user, as one zip. */
export function DownloadData() {
  return (
    <a className="btn btn-small btn-block" href={ARCHIVE_URL} download title="Chats, usage and security events as one zip file">
      Download my data
    </a>
  );
}

export default DownloadData;
